"""`stateless-pack scan PATH...`: our rules and Checkov's over plain manifest files and folders.

For YAML that never went through Pulumi (Helm output, kubectl manifests). Stages:
  load the files (multi-document, `kind: List` expanded); every YAML problem is a blocking finding
  write each manifest to its own file in a temporary folder
  Checkov over that folder (its built-in Kubernetes checks + our CKV_STL checks)
  our stack rules (min-replicas, pdb-coverage, ...: Checkov cannot express them) over all manifests
  waivers (`--waivers FILE`); every suppression on a manifest must be backed by one
  one report.

Exit codes: 0 clean or advisory only, 1 blocking findings, 2 Checkov or the scan itself failed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import traceback
from dataclasses import replace
from datetime import date
from pathlib import Path

import yaml

from policies import waivers
from policies.catalog import rules
from policies.gate import reports
from policies.gate.checkov_runner import DEFAULT_CHECKOV, CheckovError, scan_with_checkov
from policies.gate.findings import Finding
from policies.gate.manifest_files import LoadedManifest, ManifestProblem, load_manifests
from policies.manifest import kind_of, name_of, namespace_of

EXIT_CLEAN, EXIT_BLOCKED, EXIT_FAILED = 0, 1, 2
CHECKOV_ENV = "STATELESS_PACK_CHECKOV"  # same variable as `preview`


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scan", help="run the rules and Checkov over Kubernetes manifest files and folders",
        description="Check plain Kubernetes manifests (multi-document YAML, kind: List) with Checkov's "
                    "built-in checks, our CKV_STL checks and our stack rules, offline. A file that does "
                    "not parse is a blocking finding, never skipped. Exit 0: clean or advisory only; "
                    "1: blocking findings; 2: Checkov or the scan failed.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or folders (walked recursively)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="report format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
    p.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 (code scanning)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (CI test reports)")
    p.add_argument("--waivers", metavar="FILE",
                   help="waiver registry to apply (default: none, so every violation and every "
                        "suppression annotation blocks)")
    p.add_argument("--checkov", default=None, metavar="PATH",
                   help=f"Checkov executable (default: ${CHECKOV_ENV}, else .venv-checkov/bin/checkov)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return scan(args, out=sys.stdout)
    except CheckovError as exc:
        print(f"stateless-pack scan: error: Checkov failed: {exc}", file=sys.stderr)
    except Exception:  # a bug in the scan is a failed scan, never a pass
        print("stateless-pack scan: internal error:\n" + traceback.format_exc(), file=sys.stderr)
    return EXIT_FAILED


def scan(args: argparse.Namespace, *, out) -> int:
    today = date.today()
    checkov_bin = args.checkov or os.environ.get(CHECKOV_ENV) or DEFAULT_CHECKOV
    loaded, problems = load_manifests(args.paths)
    findings = [problem_finding(p) for p in problems]
    registry, registry_findings = load_waivers(args.waivers, today)
    findings += registry_findings
    findings += checkov_findings(loaded, checkov_bin, registry, today)
    findings += stack_rule_findings(loaded, registry, today)
    findings += suppression_findings(loaded, registry, today)
    report = reports.Report(
        findings=findings, checked=checked(loaded), rules=rule_help(),
        title=f"stateless-pack scan: {len(loaded)} manifest(s) from {', '.join(args.paths)}",
        meta={"command": "scan", "paths": list(args.paths), "manifests": len(loaded),
              "waivers": args.waivers or ""})
    write_report(report, args.format, args.output, out)
    if args.sarif:
        reports.write_sarif(report, args.sarif)
    if args.junit:
        reports.write_junit(report, args.junit)
    return EXIT_BLOCKED if report.blocking else EXIT_CLEAN


# --- findings per source -------------------------------------------------------------------------

def resource_of(manifest: dict) -> str:
    return f"{kind_of(manifest)}/{namespace_of(manifest)}/{name_of(manifest)}"


def problem_finding(problem: ManifestProblem) -> Finding:
    where = f" (line {problem.line})" if problem.line else ""
    return Finding(rule="manifest-file", engine="scan", level="mandatory", resource=problem.where,
                   message=f"{problem.message}{where}", file=problem.file,
                   fix="Make the file valid Kubernetes YAML (after a YAML error nothing more of the file "
                       "is checked), or leave it out of the scanned paths.")


def checkov_findings(loaded: list[LoadedManifest], checkov_bin, registry, today: date) -> list:
    """Checkov over one file per manifest; findings point back at the source file and resource."""
    if not loaded:
        return []  # nothing to scan; the load problems already say why
    with tempfile.TemporaryDirectory(prefix="stateless-pack-scan-") as folder:
        by_file = {}
        for i, item in enumerate(loaded):
            target = Path(folder) / _file_name(i, item.manifest)
            target.write_text(yaml.safe_dump(item.manifest, sort_keys=False), encoding="utf-8")
            by_file[str(target.resolve())] = item
        result = scan_with_checkov([folder], checkov_bin=checkov_bin)
    findings = []
    for f in result.findings:
        item = by_file.get(str(Path(f.file).resolve()))
        # Checkov names the pod of a Deployment's template on its own; the file names the resource.
        resource = resource_of(item.manifest) if item else f.resource
        waiver = _covering(registry, {f.rule, f.checkov_id}, item.manifest if item else None, today)
        findings.append(replace(f, resource=resource, file=item.file if item else "", waiver=waiver))
    for s in result.suppressions:
        item = by_file.get(str(Path(s.file).resolve()))
        if item is None or registry is None:
            continue  # unbacked ones are reported by suppression_findings, from the manifest itself
        ref = waivers.ResourceRef.of_manifest(item.manifest)
        if not waivers.unbacked_suppressions({"checkov.io/skip": f"{s.checkov_id}={s.comment}"},
                                             ref, registry, today):
            findings.append(Finding(
                rule=s.rule, engine="checkov", level="mandatory", resource=resource_of(item.manifest),
                message=f"Checkov skipped {s.checkov_id} (annotation backed by {s.comment})",
                file=item.file, checkov_id=s.checkov_id, waiver=s.comment))
    return findings


def _file_name(index: int, manifest: dict) -> str:
    label = "-".join(x for x in (kind_of(manifest), namespace_of(manifest), name_of(manifest)) if x)
    return f"{index:05d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)[:100]}.yaml"


def stack_rule_findings(loaded: list[LoadedManifest], registry, today: date) -> list:
    """The rules that need all resources at once: Checkov cannot run them, so we do."""
    manifests = [item.manifest for item in loaded]
    findings = []
    for rule in rules():
        if not rule.stack:
            continue
        for index, violation in rule.run(manifests):
            item = loaded[index]
            findings.append(Finding(
                rule=rule.name, engine="stack-rules", level=rule.level, resource=resource_of(item.manifest),
                message=violation.message, path=violation.path, fix=rule.remediation, file=item.file,
                checkov_id=rule.checkov_id,
                waiver=_covering(registry, {rule.name, rule.checkov_id}, item.manifest, today)))
    return findings


# --- waivers -------------------------------------------------------------------------------------

def load_waivers(path: str | None, today: date):
    """(registry, findings). No `--waivers`: an empty registry. An invalid one: None (nothing applies)."""
    if not path:
        return waivers.empty_registry("(no --waivers registry)"), []
    try:
        return waivers.load_registry(path, waivers.load_approvers(), today=today), []
    except waivers.WaiverRegistryError as exc:
        problems = exc.problems
    except OSError as exc:
        problems = [f"cannot read {path}: {exc}"]
    return None, [Finding(rule="waiver-registry", engine="waivers", level="mandatory", resource=path,
                          message=f"invalid waiver registry, no waiver applies: {p}", file=path)
                  for p in problems]


def _covering(registry, rule_ids: set, manifest: dict | None, today: date) -> str:
    if registry is None or manifest is None:
        return ""
    waiver = registry.covering(rule_ids, waivers.ResourceRef.of_manifest(manifest), today)
    return waiver.id if waiver else ""


def suppression_findings(loaded: list[LoadedManifest], registry, today: date) -> list:
    """Every skip annotation and waiver marker in the manifests that no registry waiver backs."""
    findings = []
    for item in loaded:
        ref = waivers.ResourceRef.of_manifest(item.manifest)
        for violation in waivers.manifest_unbacked_suppressions(item.manifest, ref, registry, today):
            findings.append(Finding(
                rule="unbacked-suppression", engine="waivers", level="mandatory",
                resource=resource_of(item.manifest), message=violation.message, path=violation.path,
                fix="Record the exception as a waiver in the registry (--waivers) and name it in the "
                    "annotation, or remove the annotation and fix the resource.", file=item.file))
    return findings


# --- report --------------------------------------------------------------------------------------

def checked(loaded: list[LoadedManifest]) -> list:
    return [reports.Checked(resource_of(item.manifest), rule.name) for item in loaded for rule in rules()
            if kind_of(item.manifest) in rule.kinds]


def rule_help() -> dict:
    return {r.name: reports.RuleHelp(id=r.name, description=r.description, fix=r.remediation,
                                     checkov_id=r.checkov_id, tags=(r.category, r.checkov_id)) for r in rules()}


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
