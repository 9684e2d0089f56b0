"""`stateless-pack scan PATH...`: our rules and Checkov's over plain manifest files and folders.

For YAML that never went through Pulumi (Helm output, kubectl manifests), Helm charts and
kustomizations. Stages:
  load the files (multi-document, `kind: List` expanded); every file that cannot be checked, and
  every file or folder without resources, is a finding (`gate/render/manifest_files.py`)
  render the charts with helm and build the kustomizations with kubectl, each resource placed in
  its template or overlay file (`gate/render/rendered_inputs.py`); a chart that does not render
  stops the scan (exit 2)
  our rules (resource and stack rules) over every parsed resource, with the configured settings
  Checkov over the same manifests (its built-in Kubernetes checks + our CKV_STL checks); a
  resource Checkov dropped is a finding
  the waiver pass (`--waivers FILE`): findings, suppressions, the registry itself
  the configured levels (`--policy-pack-config FILE`), one report.

Loading has a deadline (`--timeout-load`: a FIFO or a hung file system never keeps a pipeline
waiting), as have each helm or kubectl run (`--timeout-render`) and Checkov (`--timeout-checkov`).
SIGTERM/SIGINT stop helm, kubectl, Checkov and its workers, remove the temporary folders and end
the scan like a crash.

Exit codes: 0 clean or advisory only, 1 blocking findings, 2 bad input (a missing path, a bad policy
configuration), Checkov or the scan itself failed, a stage ran out of time, or a signal stopped it.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import traceback
from pathlib import Path

from stateless_pack.gate import processes
from stateless_pack.gate.checkov import env as checkov_env
from stateless_pack.gate.checkov.findings import by_location, checkov_findings, judged_by_our_checks
from stateless_pack.gate.checkov.runner import TIMEOUT_SECONDS as CHECKOV_TIMEOUT
from stateless_pack.gate.checkov.runner import CheckovError, CheckovProcess, scan_manifests
from stateless_pack.gate.commands.options import add_timeout
from stateless_pack.gate.engine_agreement import combine
from stateless_pack.gate.exit_codes import EXIT_BLOCKED, EXIT_CLEAN, EXIT_FAILED
from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.gate_checks import MANIFEST_FILE
from stateless_pack.gate.levels import POLICY_CONFIG_HELP, apply_levels, load_policy_config
from stateless_pack.gate.output import paths, reports
from stateless_pack.gate.output.terminal import Progress, printable, use_color
from stateless_pack.gate.render import helm, kustomize, tools
from stateless_pack.gate.render.manifest_files import (
    EMPTY,
    ERROR,
    FIX_EMPTY,
    LoadedManifest,
    ManifestProblem,
    duplicate_problems,
    load_manifests,
)
from stateless_pack.gate.render.rendered_inputs import ChartOptions, RenderedInputs, split_inputs
from stateless_pack.gate.rule_findings import rule_findings
from stateless_pack.gate.waiving import apply_waivers
from stateless_pack.policies.policy_config import PolicyConfig, PolicyConfigError
from stateless_pack.policies.rule import ADVISORY, MANDATORY
from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.locating import (
    REGISTRY_ENV,
    RegistryLocation,
    approvers_path,
    load_located,
    locate_registry,
)
from stateless_pack.policies.waivers.model import ResourceRef, utc_today

LOAD_TIMEOUT = 300.0  # seconds to read every file (a FIFO or a hung file system must not block forever)


class ScanError(Exception):
    """Input the scan cannot start on (exit 2): the message says what to change."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scan", help="check Kubernetes manifest files and folders with our rules and Checkov",
        description="Check Kubernetes manifests (multi-document YAML, kind: List; Helm output rendered "
                    "with `helm template`, `kubectl get -o yaml`) with our rules, Checkov's built-in "
                    "checks and our CKV_STL checks, offline. Every file that cannot be checked, and every "
                    "resource Checkov drops, is a finding, never skipped. Exit 0: clean or advisory only; "
                    "1: blocking findings; 2: bad input, or Checkov or the scan failed.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="manifest files or folders (walked recursively, following links; .yaml, .yml, .json "
                        "in any case); a folder with Chart.yaml is rendered with helm, one with "
                        "kustomization.yaml (.yml, Kustomization) built with kubectl kustomize")
    p.add_argument("--policy-pack-config", metavar="FILE", help=POLICY_CONFIG_HELP)
    p.add_argument("--format", choices=("table", "json"), default="table", help="report format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
    p.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 (code scanning)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (CI test reports)")
    p.add_argument("--waivers", metavar="FILE",
                   help=f"waiver registry to apply (default: ${REGISTRY_ENV}, else none, so every "
                        "violation and every suppression annotation blocks)")
    p.add_argument("--stack", metavar="NAME",
                   help="the stack these manifests belong to, for waivers scoped to a stack")
    p.add_argument("--allow-empty", action="store_true",
                   help="a file or folder without resources only warns (default: it blocks)")
    p.add_argument("--include-hidden", action="store_true",
                   help="also walk hidden folders (.name); by default each one is reported as skipped")
    p.add_argument("--pack", metavar="DIR",
                   help="policy pack folder whose approvers.yaml to trust (default: the installed one)")
    p.add_argument("--checkov", default=None, metavar="PATH",
                   help=f"Checkov executable (default: ${checkov_env.CHECKOV_ENV_VAR}, else the one "
                        "`stateless-pack checkov install` provisioned, else checkov on PATH)")
    _add_render_options(p)
    add_timeout(p, "--timeout-load", LOAD_TIMEOUT, "for reading the files")
    add_timeout(p, "--timeout-checkov", CHECKOV_TIMEOUT, "for Checkov's scan")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        with processes.stopping_on_signals():
            return scan(args, out=sys.stdout, progress=Progress(sys.stderr))
    except processes.Interrupted as exc:
        print(f"stateless-pack scan: error: stopped by {exc.signal_name}: Checkov was stopped; "
              "nothing was checked", file=sys.stderr)
    except (ScanError, PolicyConfigError, processes.StageTimeout, paths.OutputPathError) as exc:
        print(f"stateless-pack scan: error: {printable(str(exc), newlines=True)}", file=sys.stderr)
    except (CheckovError, checkov_env.CheckovNotFound) as exc:
        print(f"stateless-pack scan: error: Checkov failed: {printable(str(exc), newlines=True)}", file=sys.stderr)
    except (helm.HelmError, kustomize.KustomizeError, tools.ToolNotFound) as exc:
        print(f"stateless-pack scan: error: {printable(str(exc), newlines=True)}", file=sys.stderr)
    except BrokenPipeError:
        raise  # the reader went away: gate/cli.py says so, without a traceback
    except Exception:  # a bug in the scan is a failed scan, never a pass
        print("stateless-pack scan: internal error:\n" + traceback.format_exc(), file=sys.stderr)
    return EXIT_FAILED


def scan(args: argparse.Namespace, *, out, progress=None) -> int:
    progress = progress or Progress(None)
    check_outputs(args)
    config = load_policy_config(args.policy_pack_config)
    if not args.paths and not args.chart:
        raise ScanError("nothing to scan: give a PATH, or a chart with --chart")
    missing = [p for p in args.paths if not os.path.lexists(p)]
    if missing:
        raise ScanError("no such file or folder: " + ", ".join(missing))
    plain, charts, kustomizations = split_inputs(args.paths)
    with processes.deadline("loading the manifests", args.timeout_load, "--timeout-load"):
        loaded, problems = load_manifests(plain, include_hidden=args.include_hidden, charts=charts) \
            if plain else ([], [])
    _check_chart_options(args, charts)
    checkov = None
    if charts or kustomizations or args.chart:
        renderers = _renderers(args, charts or args.chart, kustomizations)
        checkov = _prestarted_checkov(args.checkov, config, args.timeout_checkov)
        with progress.stage("rendering charts and kustomizations"):
            rendered = _rendered(args, charts, kustomizations, *renderers)
    else:
        rendered = RenderedInputs()
    problems += _duplicates(loaded, rendered)
    subjects = [Subject(item.manifest, ResourceRef.of_manifest(item.manifest, stack=args.stack or ""),
                        item.file, item.line, item.lines) for item in loaded]
    by_key = {**by_location(subjects), **rendered.by_key}
    subjects += rendered.subjects
    findings = [problem_finding(p, allow_empty=args.allow_empty) for p in problems + rendered.problems]
    ours = rule_findings(subjects, engine="rules", config=config)
    checked = loaded + rendered.checkov
    with progress.stage(f"running Checkov over {len(checked)} manifest(s)"):
        findings += _checkov(checked, by_key, ours, args.checkov, config, args.timeout_checkov, prestarted=checkov)
    findings = apply_levels(apply_waivers(_waiver_pass(args), findings, subjects), config)
    findings = [rendered.explain(f) for f in findings]
    inputs = [*args.paths, *([args.chart] if args.chart else [])]
    report = reports.Report(
        findings=findings, checked=reports.checked_pairs(subjects, config), rules=reports.rule_help(),
        resources=len(subjects), title=f"stateless-pack scan: {len(checked)} manifest(s) from {', '.join(inputs)}",
        meta={"command": "scan", "paths": list(args.paths), "manifests": len(checked),
              "rendered": rendered.sources, "waivers": args.waivers or "", "policy_config": config.source})
    reports.write_outputs(report, sarif_path=args.sarif, junit_path=args.junit)  # first: no verdict, then a failure
    write_report(report, args.format, args.output, out)
    return EXIT_BLOCKED if report.blocking else EXIT_CLEAN

def _waiver_pass(args) -> WaiverPass:
    today = utc_today()
    if args.waivers or os.environ.get(REGISTRY_ENV):
        location = locate_registry(project_dir=Path.cwd(), config={}, explicit=args.waivers)
    else:
        location = RegistryLocation(source="(no --waivers registry)", required=False)
    registry, problems = load_located(location, approvers_path(args.pack), today)
    return WaiverPass(registry, problems, today, stack=args.stack)


def _duplicates(loaded: list[LoadedManifest], rendered: RenderedInputs) -> list[ManifestProblem]:
    """One object defined twice among the files given, or in one chart's or kustomization's output.
    Two renderings scanned together (a base and its overlays, one chart with two sets of values) are
    alternatives, not one deployment: they are not compared with each other."""
    renderings: dict[str, list] = {}
    for subject, place in zip(rendered.subjects, rendered.checkov):
        renderings.setdefault(place.file, []).append(subject)  # its place names the rendering it is from
    return duplicate_problems(loaded) + [p for found in renderings.values() for p in duplicate_problems(found)]


def problem_finding(problem: ManifestProblem, *, allow_empty: bool = False) -> Finding:
    """A file the scan could not check blocks; input without resources blocks unless allowed; a
    skipped hidden folder is reported without blocking."""
    blocks = problem.kind == ERROR or (problem.kind == EMPTY and not allow_empty)
    where = f" (line {problem.line})" if problem.line else ""
    return Finding(rule=MANIFEST_FILE, engine="scan", level=MANDATORY if blocks else ADVISORY,
                   resource=problem.where, message=f"{problem.message}{where}", file=problem.file,
                   line=problem.line, field_line=problem.line, fix=problem.fix)


def _checkov(loaded: list[LoadedManifest], by_key: dict, ours: list[Finding], checkov: str | None,
             config: PolicyConfig, timeout: float = CHECKOV_TIMEOUT,
             prestarted: CheckovProcess | None = None) -> list[Finding]:
    """Checkov over every loaded manifest, its findings pointing back at the source file and
    resource (`by_key`: the subject of each manifest's file and line; `prestarted`: the Checkov to
    use), joined with `ours` (our rules' findings): one finding per violation, with both engines
    where both found it (`gate/engine_agreement.py`)."""
    if not loaded:
        if prestarted is not None:
            prestarted.close()
        return ours  # nothing to scan; the load problems already say why
    if prestarted is None:
        prestarted = CheckovProcess(checkov_env.find_checkov(checkov), rule_settings=config.rule_settings(),
                                    timeout=timeout)
    result = scan_manifests(loaded, checkov=prestarted)
    return combine(ours, checkov_findings(result, by_key, config), judged_by_our_checks(result, by_key),
                   engine="rules")


def _prestarted_checkov(checkov: str | None, config: PolicyConfig, timeout: float) -> CheckovProcess:
    """Checkov's interpreter started now, so that its imports overlap helm and kubectl."""
    return CheckovProcess.prestart(checkov_env.find_checkov(checkov), rule_settings=config.rule_settings(),
                                   timeout=timeout)


# ---- charts and kustomizations --------------------------------------------------------------

def _add_render_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("charts and kustomizations")
    group.add_argument("--chart", metavar="CHART",
                       help="also scan this chart: a chart name in --repo, repo/name, oci://..., or a .tgz")
    group.add_argument("--repo", metavar="URL", help="the chart repository of --chart")
    group.add_argument("--version", dest="chart_version", metavar="VERSION", help="the version of --chart")
    group.add_argument("-f", "--values", dest="values_files", action="append", default=[], metavar="FILE",
                       help="a values file for the charts (repeatable; later files win, as in helm)")
    group.add_argument("--set", dest="set_values", action="append", default=[], metavar="KEY=VALUE",
                       help="a value for the charts (repeatable; wins over --values, as in helm)")
    group.add_argument("--release", metavar="NAME", help="the release name (default: the chart's name)")
    group.add_argument("--namespace", default="default", metavar="NS",
                       help="the namespace to render into (default: default)")
    group.add_argument("--kube-version", metavar="VERSION", help="the Kubernetes version helm renders for")
    group.add_argument("--helm", metavar="PATH",
                       help=f"helm executable (default: ${tools.HELM.env_var}, helm on PATH, else the one "
                            f"`{tools.INSTALL_COMMAND}` provisioned)")
    group.add_argument("--kubectl", metavar="PATH",
                       help=f"kubectl executable for kustomize (default: ${tools.KUBECTL.env_var}, kubectl on "
                            f"PATH, else the one `{tools.INSTALL_COMMAND}` provisioned)")
    add_timeout(group, "--timeout-render", helm.TIMEOUT_SECONDS, "for each helm or kubectl run")


def _check_chart_options(args: argparse.Namespace, charts: list[str]) -> None:
    """Chart options with no chart to apply them to are a mistake, not something to ignore."""
    if (args.repo or args.chart_version) and not args.chart:
        raise ScanError("--repo and --version name where --chart comes from: give --chart too")
    if (args.values_files or args.set_values) and not (charts or args.chart):
        raise ScanError("--values and --set are for charts, and there is no chart to render "
                        "(a folder with Chart.yaml, or --chart)")


def _renderers(args: argparse.Namespace, charts, kustomizations) -> tuple[Path | None, Path | None]:
    """The helm and kubectl to run (ToolNotFound, naming the command that installs them)."""
    return (tools.find(tools.HELM, args.helm) if charts else None,
            tools.find(tools.KUBECTL, args.kubectl) if kustomizations else None)


def _rendered(args: argparse.Namespace, charts: list[str], kustomizations: list[str],
              helm_bin: Path | None, kubectl_bin: Path | None) -> RenderedInputs:
    """Every chart rendered and every kustomization built; one that renders nothing is reported."""
    rendered = RenderedInputs()
    refs = [helm.ChartRef(chart) for chart in charts]
    if args.chart:
        refs.append(helm.ChartRef(args.chart, version=args.chart_version, repo=args.repo))
    options = ChartOptions(release=args.release, namespace=args.namespace, values_files=tuple(args.values_files),
                           set_values=tuple(args.set_values), kube_version=args.kube_version,
                           timeout=args.timeout_render)
    for ref in refs:
        before = len(rendered.subjects) + len(rendered.problems)
        rendered.add_chart(ref, options, helm_bin=helm_bin, stack=args.stack or "")
        if len(rendered.subjects) + len(rendered.problems) == before:
            rendered.problems.append(ManifestProblem(ref.chart, 0, "the chart rendered no resources", EMPTY,
                                                     FIX_EMPTY))
    for folder in kustomizations:
        before = len(rendered.subjects) + len(rendered.problems)
        rendered.add_kustomization(folder, kubectl_bin=kubectl_bin, stack=args.stack or "",
                                   timeout=args.timeout_render)
        if len(rendered.subjects) + len(rendered.problems) == before:
            rendered.problems.append(ManifestProblem(folder, 0, "the kustomization built no resources", EMPTY,
                                                     FIX_EMPTY))
    return rendered

def write_report(report: reports.Report, fmt: str, output: str | None, out) -> None:
    """The report in `fmt`, to `output` (checked before the scan) or `out`."""
    if fmt == "json":
        text = json.dumps(reports.to_json(report), indent=2) + "\n"
    elif output:
        buffer = io.StringIO()
        reports.print_table(report, buffer)
        text = buffer.getvalue()
    else:
        reports.print_table(report, out, color=use_color(out))
        return
    if output:
        paths.write_text("--output", output, text)
    else:
        out.write(text)


def check_outputs(args: argparse.Namespace) -> None:
    """Every file the scan will write can be written (before any work: `gate/output/paths.py`)."""
    paths.check_files({"--output": args.output, "--sarif": args.sarif, "--junit": args.junit})
