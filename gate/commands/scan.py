"""`stateless-pack scan PATH...`: our rules and Checkov's over plain manifest files and folders.

For YAML that never went through Pulumi (Helm output, kubectl manifests). Stages:
  load the files (multi-document, `kind: List` expanded); every file that cannot be checked, and
  every file or folder without resources, is a finding (`gate/render/manifest_files.py`)
  our rules (resource and stack rules) over every parsed resource, with the configured settings
  Checkov over the same manifests (its built-in Kubernetes checks + our CKV_STL checks); a
  resource Checkov dropped is a finding
  the waiver pass (`--waivers FILE`): findings, suppressions, the registry itself
  the configured levels (`--policy-pack-config FILE`), one report.

Loading has a deadline (`--timeout-load`: a FIFO or a hung file system never keeps a pipeline
waiting), as has Checkov (`--timeout-checkov`). SIGTERM/SIGINT stop Checkov and its workers, remove
the temporary folder and end the scan like a crash.

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
from stateless_pack.gate.checkov.runner import CheckovError, scan_manifests
from stateless_pack.gate.commands.options import add_timeout
from stateless_pack.gate.engine_agreement import combine
from stateless_pack.gate.exit_codes import EXIT_BLOCKED, EXIT_CLEAN, EXIT_FAILED
from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.gate_checks import MANIFEST_FILE
from stateless_pack.gate.levels import POLICY_CONFIG_HELP, apply_levels, load_policy_config
from stateless_pack.gate.output import paths, reports
from stateless_pack.gate.output.terminal import Progress, printable, use_color
from stateless_pack.gate.render.manifest_files import EMPTY, ERROR, LoadedManifest, ManifestProblem, load_manifests
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
    p.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or folders (walked recursively, "
                                                           "following links; .yaml, .yml, .json in any case)")
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
    except BrokenPipeError:
        raise  # the reader went away: gate/cli.py says so, without a traceback
    except Exception:  # a bug in the scan is a failed scan, never a pass
        print("stateless-pack scan: internal error:\n" + traceback.format_exc(), file=sys.stderr)
    return EXIT_FAILED


def scan(args: argparse.Namespace, *, out, progress=None) -> int:
    progress = progress or Progress(None)
    check_outputs(args)
    config = load_policy_config(args.policy_pack_config)
    missing = [p for p in args.paths if not os.path.lexists(p)]
    if missing:
        raise ScanError("no such file or folder: " + ", ".join(missing))
    with processes.deadline("loading the manifests", args.timeout_load, "--timeout-load"):
        loaded, problems = load_manifests(args.paths, include_hidden=args.include_hidden)
    subjects = [Subject(item.manifest, ResourceRef.of_manifest(item.manifest, stack=args.stack or ""),
                        item.file, item.line, item.lines) for item in loaded]
    findings = [problem_finding(p, allow_empty=args.allow_empty) for p in problems]
    ours = rule_findings(subjects, engine="rules", config=config)
    with progress.stage(f"running Checkov over {len(loaded)} manifest(s)"):
        findings += _checkov(loaded, subjects, ours, args.checkov, config, args.timeout_checkov)
    findings = apply_levels(apply_waivers(_waiver_pass(args), findings, subjects), config)
    report = reports.Report(
        findings=findings, checked=reports.checked_pairs(subjects, config), rules=reports.rule_help(),
        resources=len(subjects), title=f"stateless-pack scan: {len(loaded)} manifest(s) from {', '.join(args.paths)}",
        meta={"command": "scan", "paths": list(args.paths), "manifests": len(loaded),
              "waivers": args.waivers or "", "policy_config": config.source})
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


def problem_finding(problem: ManifestProblem, *, allow_empty: bool = False) -> Finding:
    """A file the scan could not check blocks; input without resources blocks unless allowed; a
    skipped hidden folder is reported without blocking."""
    blocks = problem.kind == ERROR or (problem.kind == EMPTY and not allow_empty)
    where = f" (line {problem.line})" if problem.line else ""
    return Finding(rule=MANIFEST_FILE, engine="scan", level=MANDATORY if blocks else ADVISORY,
                   resource=problem.where, message=f"{problem.message}{where}", file=problem.file,
                   line=problem.line, field_line=problem.line, fix=problem.fix)


def _checkov(loaded: list[LoadedManifest], subjects: list[Subject], ours: list[Finding], checkov: str | None,
             config: PolicyConfig, timeout: float = CHECKOV_TIMEOUT) -> list[Finding]:
    """Checkov over every loaded manifest, its findings pointing back at the source file and
    resource, joined with `ours` (our rules' findings): one finding per violation, with both engines
    where both found it (`gate/engine_agreement.py`)."""
    if not loaded:
        return ours  # nothing to scan; the load problems already say why
    result = scan_manifests(loaded, checkov_bin=checkov_env.find_checkov(checkov),
                            rule_settings=config.rule_settings(), timeout=timeout)
    located = by_location(subjects)
    return combine(ours, checkov_findings(result, located, config), judged_by_our_checks(result, located),
                   engine="rules")

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
