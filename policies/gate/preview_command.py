"""`stateless-pack preview`: the gate. A Pulumi program, offline, through the policy pack and Checkov.

Stages (overlapped where they do not depend on each other):
  program under mocks  ||  pack launch + GetAnalyzerInfo + Configure  ||  Checkov's imports
  render manifests
  Checkov over the rendered folder  ||  Remediate+Analyze per resource, then AnalyzeStack
  waivers over Checkov's findings and suppressions; one report.
Checkov must see every manifest in one run (its graph checks connect resources across files), so
it cannot start scanning before the program has registered its last resource (README, "Benchmark").

Exit codes: 0 clean or advisory only, 1 blocking findings, 2 the program, the pack, Checkov or the
gate itself failed. Every failure path ends in 2: a crash never passes the gate.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable

EXIT_CLEAN, EXIT_BLOCKED, EXIT_FAILED = 0, 1, 2
PACK_DIR = Path(__file__).resolve().parents[1]            # this repository's policies/
CHECKOV_ENV = "STATELESS_PACK_CHECKOV"


class GateError(Exception):
    """A stage failed: the message says which and why (exit 2)."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "preview", help="run a Pulumi program offline through the policy pack and Checkov",
        description="Run a Pulumi Python program under Pulumi's mocks (no CLI, no cluster, no "
                    "credentials), send every resource to the policy pack over the analyzer protocol, "
                    "render the Kubernetes manifests (secrets redacted), run Checkov over them, apply "
                    "the waiver registry and print one report. Exit 0: clean or advisory only; "
                    "1: blocking findings; 2: the program, the pack or Checkov failed.")
    p.add_argument("program_dir", nargs="?", default=".", metavar="PROGRAM_DIR",
                   help="folder with Pulumi.yaml (default: current folder)")
    p.add_argument("--stack", help="stack whose Pulumi.<stack>.yaml config to use "
                                   "(default: the only stack file, else dev)")
    p.add_argument("--out", default="out/manifests", metavar="DIR",
                   help="folder for the rendered manifests (default: out/manifests)")
    p.add_argument("--json", metavar="FILE", help="also write the findings as JSON")
    p.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 (code scanning)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (CI test reports)")
    p.add_argument("--state-export", metavar="FILE",
                   help="also write the resources as a Pulumi stack export, for "
                        "`pulumi policy analyze --policy-pack policies --file FILE`")
    p.add_argument("--pack", default=str(PACK_DIR), metavar="DIR",
                   help="policy pack folder (default: this repository's policies/)")
    p.add_argument("--checkov", default=None, metavar="PATH",
                   help=f"Checkov executable (default: ${CHECKOV_ENV}, else .venv-checkov/bin/checkov)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    progress = _progress_printer(sys.stderr)
    try:
        return preview(args, progress=progress, out=sys.stdout)
    except GateError as exc:
        print(f"stateless-pack preview: error: {exc}", file=sys.stderr)
    except Exception:  # a bug in the gate is a failed gate, never a pass
        print("stateless-pack preview: internal error:\n" + traceback.format_exc(), file=sys.stderr)
    return EXIT_FAILED


def _progress_printer(stream) -> Callable[[str], None]:
    if not stream.isatty():
        return lambda _message: None
    return lambda message: print(f"… {message}", file=stream, flush=True)


# --- the pipeline --------------------------------------------------------------------------------

def preview(args: argparse.Namespace, *, progress: Callable[[str], None], out) -> int:
    from policies.gate import program as programs, render, reports

    program_dir = Path(args.program_dir).resolve()
    try:  # project files first: the pack needs project, stack and config before the program ran
        project = programs.load_project(program_dir)
        stack = args.stack or programs.default_stack(program_dir, project)
        config, _, _ = programs.load_config(program_dir, project, stack)
    except programs.ProgramError as exc:
        raise GateError(str(exc)) from None
    checkov_bin = args.checkov or os.environ.get(CHECKOV_ENV) or None
    today = date.today()

    from policies.gate.checkov_runner import DEFAULT_CHECKOV, CheckovProcess
    # Checkov's interpreter imports Checkov while the program runs (see CheckovProcess.prestart).
    checkov = CheckovProcess.prestart(checkov_bin or DEFAULT_CHECKOV)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="gate") as pool:
        try:
            progress(f"running {program_dir} (stack {stack}) under mocks; starting the policy pack")
            program_future = pool.submit(programs.run_program, program_dir, stack)
            with _launched_pack(args.pack, project["name"], stack, config) as pack:
                run = _result(program_future, "the program failed")
                items = render.manifests(run.resources)
                try:
                    rendered = render.render(items, args.out)
                except (render.RenderError, OSError) as exc:
                    raise GateError(f"cannot write the manifests: {exc}") from None
                progress(f"rendered {len(rendered)} manifest(s) to {args.out}; running Checkov and the pack")
                checkov_future = pool.submit(_checkov, args.out, checkov, bool(rendered))
                pack_findings = _analyze(pack, run, rendered)
                _require_clean_pack_logs(pack)
            # the pack has stopped (its memory is free) while Checkov, the longest stage, finishes
            scan = _result(checkov_future, "Checkov failed")
        finally:
            checkov.close()

    progress("applying waivers")
    registry, registry_findings = _registry(config)
    findings = [*pack_findings, *registry_findings]
    findings += _checkov_findings(scan, rendered, registry, stack, today)
    findings += _unbacked_suppressions(rendered, registry, stack, today, pack_findings)
    findings = _merge_stale(findings, _stale_waivers(registry, findings, rendered, stack), registry)
    findings = _scrub(findings, [v for r in run.resources for v in programs.secret_values(r.inputs)])

    report = reports.Report(
        findings=findings, checked=_checked(rendered), rules=_rule_help(),
        title=f"stateless-pack preview: {run.project} (stack {run.stack})",
        meta={"command": "preview", "program": str(run.program_dir), "project": run.project,
              "stack": run.stack, "manifests": str(Path(args.out)), "pack": str(Path(args.pack).resolve())})
    reports.print_table(report, out)
    for path, writer in ((args.json, reports.write_json), (args.sarif, reports.write_sarif),
                         (args.junit, reports.write_junit)):
        if path:
            writer(report, path)
    if args.state_export:
        from policies.gate import state_export
        state_export.write(run, args.state_export)
    return EXIT_BLOCKED if report.blocking else EXIT_CLEAN


def _result(future: Future, what: str) -> Any:
    """The stage's value, or GateError naming the stage (its exception says why)."""
    try:
        return future.result()
    except GateError:
        raise
    except Exception as exc:  # ProgramError, CheckovError, PackError, or a bug in a stage
        raise GateError(f"{what}: {exc}") from exc


class _launched_pack:
    """launch_pack + GetAnalyzerInfo + Configure, with failures as GateError."""

    def __init__(self, pack_dir: str, project: str, stack: str, config: dict):
        self.args = (pack_dir, project, stack, config)
        self.pack = None

    def __enter__(self):
        from policies.gate import engine

        pack_dir, project, stack, config = self.args
        try:
            # dry_run False: the gate's mocks make every value known, as at `pulumi up`
            self.pack = engine.launch_pack(pack_dir, project=project, stack=stack, dry_run=False,
                                           config=config)
            self.pack.client.get_analyzer_info()
            self.pack.client.configure()
        except Exception as exc:
            if self.pack is not None:
                self.pack.close()
            raise GateError(f"the policy pack failed: {exc}") from exc
        return self.pack

    def __exit__(self, *exc) -> None:
        self.pack.close()


def _engine_value(value: Any) -> Any:
    from policies.gate import engine, program

    if isinstance(value, program.Secret):
        return engine.Secret(_engine_value(value.value))
    if isinstance(value, dict):
        return {k: _engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_value(v) for v in value]
    return value


def engine_resources(run) -> list:
    """The program's registered resources as the engine sends them to an analyzer."""
    from policies.gate import engine

    return [engine.Resource(type=r.type, name=r.name, properties=_engine_value(r.inputs),
                            urn=r.urn, parent=r.parent, dependencies=r.dependencies,
                            property_dependencies=r.property_dependencies)
            for r in run.resources]


def _analyze(pack, run, rendered) -> list:
    """Every registered resource through Remediate+Analyze, then AnalyzeStack once, as findings."""
    resources = engine_resources(run)
    try:
        per_resource = pack.client.analyze_many(resources)
        stack_diagnostics = pack.client.analyze_stack(resources)
    except Exception as exc:
        raise GateError(f"the policy pack failed: {exc}") from exc
    info = pack.client.get_analyzer_info()
    by_urn = {item.resource.urn: item for item in rendered}
    by_ref = {item.ref: item for item in rendered}
    names = {r.urn: r for r in run.resources}
    diagnostics = [d for ds in per_resource for d in ds] + list(stack_diagnostics)
    return [_pack_finding(d, info, by_urn, by_ref, names) for d in diagnostics]


_FIELD = re.compile(r"\(field ([^)]*)\)")
_WAIVER = re.compile(r"\bwaive[rd](?: by)? (W-\d{4,})\b")
_WAIVER_NOTE = re.compile(r"\s*\[waived by W-\d{4,}[^\]]*\]")
_CANT_RUN = re.compile(r"^can't run policy '[^']*' from policy pack '[^']*' during preview: ")


def _pack_finding(d, info, by_urn: dict, by_ref: dict, names: dict):
    from policies.catalog import ADVISORY, MANDATORY
    from policies.gate.findings import Finding

    try:
        policy = info.policy(d.policy_name)
        fix, level = policy.remediation_steps, policy.enforcement_level
        checkov_id = next((t for t in policy.tags if t.startswith("CKV")), "")
    except (KeyError, ValueError, StopIteration):
        fix, level, checkov_id = "", d.enforcement_level, ""
    message = d.message
    for prefix in {d.description, getattr(policy_info(info, d.policy_name), "description", "")}:
        if prefix and message.startswith(prefix + "\n"):  # pulumi-policy prepends the description
            message = message[len(prefix) + 1:]
    # pulumi-policy's advisory channel (used by the pack for waived and unknown violations) wraps
    # the message and drops the URN; the message still starts with the resource it is about.
    message = _CANT_RUN.sub("", message)
    item = by_urn.get(d.urn) or next(
        (i for ref, i in by_ref.items() if message.startswith(ref + ": ")), None)
    resource = item.ref if item else _urn_ref(d.urn, names)
    if item and message.startswith(item.ref + ": "):
        message = message[len(item.ref) + 2:]
    message = message.split(" Fix: ", 1)[0]
    path = _FIELD.search(message)
    waiver = _WAIVER.search(d.message)
    message = _WAIVER_NOTE.sub("", message).strip()
    # a waived violation keeps its rule's level: the waiver, not a lower level, is what lets it pass
    found_level = d.enforcement_level if not waiver else level
    return Finding(
        rule=d.policy_name, engine="crossguard",
        level=MANDATORY if found_level in ("mandatory", "remediate") else ADVISORY,
        resource=resource, message=message, path=path.group(1) if path else "", fix=fix,
        file=str(item.file) if item and item.file else "", urn=d.urn, checkov_id=checkov_id,
        waiver=waiver.group(1) if waiver else "")


def policy_info(info, name: str):
    try:
        return info.policy(name)
    except (KeyError, ValueError):
        return None


def _urn_ref(urn: str, names: dict) -> str:
    r = names.get(urn)
    return f"{r.type}::{r.name}" if r else (urn or "stack")


def _require_clean_pack_logs(pack) -> None:
    errors = [log.message for log in pack.logs if log.severity == "error"]
    if errors:
        raise GateError("the policy pack logged errors:\n" + "\n".join(errors))


def _checkov(out_dir: str, checkov, any_manifest: bool):
    from policies.gate import checkov_runner

    if not checkov.checkov_bin.exists():
        raise checkov_runner.CheckovError(f"Checkov not found at {checkov.checkov_bin}")
    if not any_manifest:  # nothing rendered: Checkov would have nothing to scan
        return checkov_runner.CheckovScan([], [])
    return checkov_runner.scan_with_checkov([out_dir], checkov=checkov)


# --- waivers -------------------------------------------------------------------------------------

def _registry(config: dict):
    """The stack's registry, located as the pack locates it (same environment and stack config)."""
    from policies import waivers
    from policies.gate.findings import Finding

    environ = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    if config:
        environ["PULUMI_CONFIG"] = json.dumps(config)
    registry, problems = waivers.load_stack_registry(date.today(), environ=environ)
    findings = [Finding(rule="waiver-registry", engine="waivers", level="mandatory", resource=p.file,
                        message=f"invalid waiver registry, no waiver applies: {p}", file=p.file)
                for p in problems]
    return registry, findings


def _ref(item, stack: str):
    from policies.waivers import ResourceRef

    return ResourceRef.of_manifest(item.revealed(), stack=stack, urn=item.resource.urn)


def _checkov_findings(scan, rendered, registry, stack: str, today: date) -> list:
    """Checkov's failures filtered through the registry (one waiver covers both engines), and its
    skips: each must be backed by a registry waiver, else it is an unbacked suppression."""
    from policies import waivers
    from policies.catalog import rules
    from policies.gate.findings import Finding

    ours = {r.name: r for r in rules()}
    by_ref = {item.ref: item for item in rendered}
    # One manifest per rendered file: the file names the resource even where Checkov names a part
    # of it (the pod of a Deployment's template is `Pod/<ns>/<name>.<labels>` to Checkov).
    by_file = {str(Path(item.file).resolve()): item for item in rendered}

    def item_of(finding) -> Any:
        found = by_file.get(str(Path(finding.file).resolve())) if finding.file else None
        return found or by_ref.get(finding.resource)

    findings = []
    for f in scan.findings:
        item = item_of(f)
        extra = {"resource": item.ref, "urn": item.resource.urn, "file": str(item.file)} if item else {}
        waiver = registry.covering({f.rule, f.checkov_id}, _ref(item, stack), today) \
            if registry is not None and item else None
        level = ours[f.rule].level if f.rule in ours else f.level  # our advisory rules stay advisory
        findings.append(replace(f, **extra, level=level, waiver=waiver.id if waiver else ""))
    for s in scan.suppressions:  # backed skips show as waived; unbacked: _unbacked_suppressions
        item = item_of(s)
        if item is None or registry is None:
            continue
        if not waivers.unbacked_suppressions({"checkov.io/skip": f"{s.checkov_id}={s.comment}"},
                                             _ref(item, stack), registry, today):
            findings.append(Finding(
                rule=s.rule, engine="checkov", level="mandatory", resource=item.ref,
                message=f"Checkov skipped {s.checkov_id} (annotation backed by {s.comment})",
                file=str(item.file), urn=item.resource.urn, checkov_id=s.checkov_id, waiver=s.comment))
    return findings


def _unbacked_suppressions(rendered, registry, stack: str, today: date, pack_findings: list) -> list:
    """Skip annotations and waiver markers that no registry waiver backs (fail closed), unless the
    pack already reported that suppression itself."""
    from policies import waivers
    from policies.gate.findings import Finding

    reported = {(f.resource, f.path) for f in pack_findings if "suppression" in f.rule}
    findings = []
    for item in rendered:
        manifest = item.revealed()
        for violation in waivers.manifest_unbacked_suppressions(manifest, _ref(item, stack), registry, today):
            if (item.ref, violation.path) in reported:
                continue
            findings.append(Finding(
                rule="unbacked-suppression", engine="waivers", level="mandatory", resource=item.ref,
                message=violation.message, path=violation.path,
                fix="Record the exception as a waiver in the stack's waiver registry and name it in "
                    "the annotation, or remove the annotation and fix the resource.",
                file=str(item.file), urn=item.resource.urn))
    return findings


def _stale_waivers(registry, findings: list, rendered, stack: str) -> list:
    """Registry waivers that nothing in this stack used: advisory, so the registry stays honest."""
    from policies import waivers
    from policies.gate.findings import Finding

    if registry is None:
        return []
    used = {f.waiver for f in findings if f.waiver}
    for item in rendered:
        used |= waivers.backing_waiver_ids(item.revealed())
    return [Finding(rule="stale-waiver", engine="waivers", level="advisory", resource=registry.source,
                    message=f"waiver {w.id} ({', '.join(w.rules)}) covers nothing in stack {stack}",
                    fix="Remove the waiver from the registry if the exception is gone.",
                    file=registry.source)
            for w in registry.stale(used, stack=stack)]


_WAIVER_ID = re.compile(r"\bW-\d{4,}\b")


def _merge_stale(findings: list, gate_stale: list, registry) -> list:
    """The pack reports waivers it did not use as stale, but it cannot see Checkov's uses: keep its
    report only for waivers the gate (which sees both engines) also finds stale, and once."""
    def waiver_id(f) -> str:
        found = _WAIVER_ID.search(f.message)
        return found.group(0) if found else ""

    stale_ids = {waiver_id(f) for f in gate_stale}
    kept, pack_reported = [], set()
    for f in findings:
        if f.rule == "stale-waiver" and f.engine == "crossguard":
            if waiver_id(f) not in stale_ids:
                continue  # used by a Checkov finding or suppression
            pack_reported.add(waiver_id(f))
            if registry is not None:
                f = replace(f, resource=registry.source, file=registry.source)
        kept.append(f)
    return kept + [f for f in gate_stale if waiver_id(f) not in pack_reported]


# --- report inputs -------------------------------------------------------------------------------

def _scrub(findings: list, secrets: Iterable[Any]) -> list:
    """No secret value of the program in any text the gate writes (messages, paths, fixes)."""
    from policies.gate.render import REDACTED

    values = sorted({str(v) for v in secrets if len(str(v)) >= 3}, key=len, reverse=True)
    if not values:
        return findings

    def clean(text: str) -> str:
        for value in values:
            text = text.replace(value, REDACTED)
        return text

    return [replace(f, message=clean(f.message), path=clean(f.path), fix=clean(f.fix)) for f in findings]


def _checked(rendered) -> list:
    from policies.catalog import rules
    from policies.gate.reports import Checked

    return [Checked(item.ref, rule.name) for item in rendered for rule in rules()
            if item.manifest.get("kind") in rule.kinds]


def _rule_help() -> dict:
    from policies.catalog import rules
    from policies.gate.reports import RuleHelp

    return {r.name: RuleHelp(id=r.name, description=r.description, fix=r.remediation,
                             checkov_id=r.checkov_id, tags=(r.category, r.checkov_id)) for r in rules()}
