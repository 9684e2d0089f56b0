"""`stateless-pack scan PATH...`: our rules and Checkov's over plain manifest files and folders.

For YAML that never went through Pulumi (Helm output, kubectl manifests). Stages:
  load the files (multi-document, `kind: List` expanded); every YAML problem is a blocking finding
  our rules (resource and stack rules) over every parsed resource
  each manifest in its own file in a private temporary folder; Checkov over that folder (its
  built-in Kubernetes checks + our CKV_STL checks)
  the waiver pass (`--waivers FILE`): findings, suppressions, the registry itself
  one report.

Loading has a deadline (`--timeout-load`: a FIFO or a hung file system never keeps a pipeline
waiting), as has Checkov (`--timeout-checkov`). SIGTERM/SIGINT stop Checkov and its workers, remove
the temporary folder and end the scan like a crash.

Exit codes: 0 clean or advisory only, 1 blocking findings, 2 Checkov or the scan itself failed, a
stage ran out of time, or a signal stopped it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from pathlib import Path

import yaml

from stateless_pack.gate import checkov_env, processes, reports
from stateless_pack.gate.checkov_findings import checkov_findings
from stateless_pack.gate.checkov_runner import TIMEOUT_SECONDS as CHECKOV_TIMEOUT
from stateless_pack.gate.checkov_runner import CheckovError, CheckovScan, scan_with_checkov
from stateless_pack.gate.commands.options import add_timeout
from stateless_pack.gate.exit_codes import EXIT_BLOCKED, EXIT_CLEAN, EXIT_FAILED
from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.manifest_files import LoadedManifest, ManifestProblem, load_manifests
from stateless_pack.gate.rule_findings import rule_findings
from stateless_pack.gate.waiving import apply_waivers
from stateless_pack.policies.manifest import kind_of, name_of, namespace_of
from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.locating import (
    REGISTRY_ENV, RegistryLocation, approvers_path, load_located, locate_registry,
)
from stateless_pack.policies.waivers.model import ResourceRef, utc_today

LOAD_TIMEOUT = 300.0  # seconds to read every file (a FIFO or a hung file system must not block forever)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scan", help="run the rules and Checkov over Kubernetes manifest files and folders",
        description="Check plain Kubernetes manifests (multi-document YAML, kind: List) with our rules, "
                    "Checkov's built-in checks and our CKV_STL checks, offline. A file that does not "
                    "parse is a blocking finding, never skipped. Exit 0: clean or advisory only; "
                    "1: blocking findings; 2: Checkov or the scan failed.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or folders (walked recursively)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="report format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
    p.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 (code scanning)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (CI test reports)")
    p.add_argument("--waivers", metavar="FILE",
                   help=f"waiver registry to apply (default: ${REGISTRY_ENV}, else none, so every "
                        "violation and every suppression annotation blocks)")
    p.add_argument("--stack", metavar="NAME",
                   help="the stack these manifests belong to, for waivers scoped to a stack")
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
            return scan(args, out=sys.stdout)
    except processes.Interrupted as exc:
        print(f"stateless-pack scan: error: stopped by {exc.signal_name}: Checkov was stopped; "
              "nothing was checked", file=sys.stderr)
    except processes.StageTimeout as exc:
        print(f"stateless-pack scan: error: {exc}", file=sys.stderr)
    except (CheckovError, checkov_env.CheckovNotFound) as exc:
        print(f"stateless-pack scan: error: Checkov failed: {exc}", file=sys.stderr)
    except Exception:  # a bug in the scan is a failed scan, never a pass
        print("stateless-pack scan: internal error:\n" + traceback.format_exc(), file=sys.stderr)
    return EXIT_FAILED


def scan(args: argparse.Namespace, *, out) -> int:
    with processes.deadline("loading the manifests", args.timeout_load, "--timeout-load"):
        loaded, problems = load_manifests(args.paths)
    subjects = [Subject(item.manifest, ResourceRef.of_manifest(item.manifest, stack=args.stack or ""),
                        item.file, item.line) for item in loaded]
    findings = [problem_finding(p) for p in problems]
    findings += rule_findings(subjects, engine="rules")
    findings += _checkov(loaded, subjects, args.checkov, args.timeout_checkov)
    findings = apply_waivers(_waiver_pass(args), findings, subjects)
    report = reports.Report(
        findings=findings, checked=reports.checked_pairs(subjects), rules=reports.rule_help(),
        title=f"stateless-pack scan: {len(loaded)} manifest(s) from {', '.join(args.paths)}",
        meta={"command": "scan", "paths": list(args.paths), "manifests": len(loaded),
              "waivers": args.waivers or ""})
    write_report(report, args.format, args.output, out)
    reports.write_outputs(report, sarif_path=args.sarif, junit_path=args.junit)
    return EXIT_BLOCKED if report.blocking else EXIT_CLEAN


def _waiver_pass(args) -> WaiverPass:
    today = utc_today()
    if args.waivers or os.environ.get(REGISTRY_ENV):
        location = locate_registry(project_dir=Path.cwd(), config={}, explicit=args.waivers)
    else:
        location = RegistryLocation(source="(no --waivers registry)", required=False)
    registry, problems = load_located(location, approvers_path(args.pack), today)
    return WaiverPass(registry, problems, today, stack=args.stack)


def problem_finding(problem: ManifestProblem) -> Finding:
    where = f" (line {problem.line})" if problem.line else ""
    return Finding(rule="manifest-file", engine="scan", level="mandatory", resource=problem.where,
                   message=f"{problem.message}{where}", file=problem.file, line=problem.line,
                   fix="Make the file valid Kubernetes YAML (after a YAML error nothing more of the file "
                       "is checked), or leave it out of the scanned paths.")


def _checkov(loaded: list[LoadedManifest], subjects: list[Subject], checkov: str | None,
             timeout: float = CHECKOV_TIMEOUT) -> list[Finding]:
    """Checkov over one file per manifest; findings point back at the source file and resource."""
    if not loaded:
        return []  # nothing to scan; the load problems already say why
    checkov_bin = checkov_env.find_checkov(checkov)
    with processes.private_folder("stateless-pack-scan-") as folder:
        by_file = {}
        for i, (item, subject) in enumerate(zip(loaded, subjects)):
            target = Path(folder) / _file_name(i, item.manifest)
            target.write_text(yaml.safe_dump(item.manifest, sort_keys=False), encoding="utf-8")
            by_file[str(target.resolve())] = subject
        result: CheckovScan = scan_with_checkov([str(folder)], checkov_bin=checkov_bin, timeout=timeout)
        return checkov_findings(result, by_file)


def _file_name(index: int, manifest: dict) -> str:
    label = "-".join(x for x in (kind_of(manifest), namespace_of(manifest), name_of(manifest)) if x)
    return f"{index:05d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)[:100]}.yaml"


def write_report(report: reports.Report, fmt: str, output: str | None, out) -> None:
    if fmt == "json":
        text = json.dumps(reports.to_json(report), indent=2) + "\n"
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            out.write(text)
        return
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            reports.print_table(report, handle)
    else:
        reports.print_table(report, out)
