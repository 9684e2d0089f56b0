"""The gate's outputs from one list of findings: the terminal table, JSON, SARIF 2.1.0, JUnit XML.

Shared by `preview` and `scan`. Nothing here decides what is a finding, its level or whether it
blocks (`Finding.blocking` and `gate/levels.py` do); these writers only present. Every output carries
the configured level (SARIF: error, warning or note), the file, the line of the resource and, where
known, of the offending field (recorded by `manifest_files.py`, never looked up again here). The
full description of a rule is in SARIF's rule metadata (`fullDescription`, `helpUri` into
docs/policies.md); a finding's message says what is wrong on its resource. They never see secret
values: the manifests they point at are the redacted rendered files, and messages are scrubbed
before they get here.
"""
from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.gate_checks import GATE_CHECKS
from stateless_pack.gate.output.terminal import paint
from stateless_pack.policies.catalog import rules as catalog_rules
from stateless_pack.policies.checkov_builtins import builtin_checks
from stateless_pack.policies.policy_config import DISABLED, PolicyConfig
from stateless_pack.policies.waivers import wording

TOOL_NAME = "stateless-pack"
TOOL_URI = "https://github.com/stateless-pack/stateless-pack"
DOCS_URI = f"{TOOL_URI}/blob/main/docs/policies.md"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True)
class RuleHelp:
    """What SARIF says about a rule: its description, how to fix it, where to read more."""
    id: str
    description: str
    fix: str = ""
    checkov_id: str = ""
    tags: tuple = ()
    help_uri: str = ""


@dataclass(frozen=True)
class Checked:
    """One resource x rule pair that was evaluated (JUnit needs the passes too)."""
    resource: str
    rule: str


def rule_help() -> dict:
    """SARIF's rule metadata for every rule of the catalog, the waiver policies and the gate's checks
    (Checkov's built-in checks are described from the findings that name them)."""
    found = {r.name: RuleHelp(id=r.name, description=r.description, fix=r.remediation, checkov_id=r.checkov_id,
                              tags=(r.category, r.checkov_id), help_uri=f"{DOCS_URI}#{r.name}")
             for r in catalog_rules()}
    found.update({name: RuleHelp(id=name, description=wording.DESCRIPTIONS[name], fix=wording.FIXES[name],
                                 tags=("waivers",), help_uri=f"{DOCS_URI}#{name}") for name in wording.POLICY_NAMES})
    found.update({c.name: RuleHelp(id=c.name, description=c.description, fix=c.fix, tags=("gate",),
                                   help_uri=f"{DOCS_URI}#{c.name}") for c in GATE_CHECKS.values()})
    return found


def checked_pairs(subjects: Iterable[Subject], config: PolicyConfig | None = None) -> list:
    """Every (resource, rule) pair our rules evaluated (not the disabled ones, not the rules a partial
    manifest is not judged by): JUnit lists the passes too."""
    config = config or PolicyConfig()
    enabled = [rule for rule in catalog_rules() if config.level(rule.name) != DISABLED]
    return [Checked(s.ref.display, rule.name) for s in subjects for rule in enabled
            if rule.applies_to(s.manifest, s.partial)]


@dataclass
class Report:
    findings: list
    checked: list = field(default_factory=list)        # Checked pairs (besides those with findings)
    rules: Mapping[str, RuleHelp] = field(default_factory=dict)
    title: str = "stateless-pack"
    meta: Mapping = field(default_factory=dict)        # program, stack, ... for JSON
    resources: int | None = None                       # resources judged by any engine (None: those in `checked`)

    @property
    def blocking(self) -> list:
        return [f for f in self.findings if f.blocking]


def status_of(finding: Finding) -> str:
    if finding.waiver:
        return "WAIVED"
    return "BLOCK" if finding.blocking else "WARN"


def _sorted(findings: Iterable[Finding]) -> list:
    order = {"BLOCK": 0, "WARN": 1, "WAIVED": 2}
    return sorted(findings, key=lambda f: (order[status_of(f)], f.rule, f.engine, f.path, f.message))


# --- terminal table ------------------------------------------------------------------------------

def summary_line(report: Report) -> str:
    """The verdict, with how many resources had findings out of how many were checked (a run
    that checked nothing must not look like a clean one)."""
    findings = report.findings
    blocking = sum(f.blocking for f in findings)
    waived = sum(bool(f.waiver) for f in findings)
    advisory = len(findings) - blocking - waived
    with_findings = {f.resource for f in findings}
    checked = report.resources
    if checked is None:
        checked = len(with_findings | {c.resource for c in report.checked})
    verdict = "BLOCKED" if blocking else "PASSED"
    return (f"{verdict}: {blocking} blocking, {advisory} advisory, {waived} waived finding(s) "
            f"on {len(with_findings)} of {checked} resource(s) checked")


_STATUS_COLORS = {"BLOCK": "red", "WARN": "yellow", "WAIVED": "cyan"}


def _where(f: Finding) -> str:
    if not f.file:
        return f.urn
    return f"{f.file}:{f.line}" if f.line else f.file


def print_table(report: Report, out: IO[str], width: int = 110, color: bool = False) -> None:
    """One block per resource (with its file and line); per finding: status, rule, engine, level,
    message, field and its line, fix, waiver. `color`: status words and verdict in colour."""
    by_resource: dict = defaultdict(list)
    for f in report.findings:
        by_resource[f.resource].append(f)
    out.write(f"{report.title}\n")
    if not by_resource:
        out.write("\nNo findings.\n")
    rule_w = max([len(f.rule) for f in report.findings] + [4])
    engine_w = max([len(f.engine) for f in report.findings] + [6])
    indent = " " * (2 + 7 + rule_w + 1 + engine_w + 1 + 10)
    for resource in sorted(by_resource, key=lambda r: (not any(f.blocking for f in by_resource[r]), r)):
        findings = _sorted(by_resource[resource])
        where = _where(findings[0])
        out.write(f"\n{resource}" + (f"  ({where})" if where else "") + "\n")
        for note in _resource_notes(findings[0]):
            out.write(f"  {note}\n")
        out.write(f"  {'STATUS':<6} {'RULE':<{rule_w}} {'ENGINE':<{engine_w}} {'LEVEL':<9} MESSAGE\n")
        for f in findings:
            note = [f.path] if f.path and f.path not in f.message else []
            note += [f"line {f.field_line}"] if f.field_line and f.field_line != f.line else []
            message = f.message + (f" [{', '.join(note)}]" if note else "")
            lines = textwrap.wrap(message, max(30, width - len(indent))) or [""]
            status = paint(f"{status_of(f):<6}", _STATUS_COLORS[status_of(f)], color)
            out.write(f"  {status} {f.rule:<{rule_w}} {f.engine:<{engine_w}} {f.level:<9} {lines[0]}\n")
            for line in lines[1:]:
                out.write(f"{indent}{line}\n")
            for related in f.related:  # a chart's values keys, the rendered document
                for line in textwrap.wrap(f"{related.role}: {related.message}", max(30, width - len(indent))):
                    out.write(f"{indent}{line}\n")
            if f.fix:
                for i, line in enumerate(textwrap.wrap(f"fix: {f.fix}", max(30, width - len(indent)))):
                    out.write(f"{indent}{line}\n")
            if f.waiver:
                out.write(f"{indent}waiver: {f.waiver}\n")
    summary = summary_line(report)
    out.write(f"\n{paint(summary, 'red' if report.blocking else 'green', color)}\n")


def _resource_notes(f: Finding) -> list[str]:
    """Where a rendered resource came from, and whether only the gate checks it."""
    notes = [f"from {f.origin}"] if f.origin else []
    if f.gate_only:
        notes.append("checked by the gate only (the pack of `pulumi preview --policy-pack` never sees it)")
    return notes


# --- JSON ----------------------------------------------------------------------------------------

def to_json(report: Report) -> dict:
    findings = _sorted(report.findings)
    return {
        "tool": TOOL_NAME,
        **dict(report.meta),
        "summary": {
            "blocking": sum(f.blocking for f in findings),
            "advisory": sum(not f.blocking and not f.waiver for f in findings),
            "waived": sum(bool(f.waiver) for f in findings),
            "passed": not any(f.blocking for f in findings),
            **({"resources": report.resources} if report.resources is not None else {}),
        },
        "findings": [f.to_dict() for f in sorted(findings, key=lambda f: f.resource)],
    }


def write_json(report: Report, path: str | os.PathLike) -> None:
    _write(path, json.dumps(to_json(report), indent=2, sort_keys=False) + "\n")


# --- SARIF 2.1.0 ---------------------------------------------------------------------------------

def _sarif_level(finding: Finding) -> str:
    """Blocking levels are errors, advisory ones warnings; anything else (a custom pack's) a note."""
    if finding.level in ("mandatory", "remediate"):
        return "error"
    return "warning" if finding.level == "advisory" else "note"


def _rule_help(rule_id: str, report: Report, findings: list) -> RuleHelp:
    known = report.rules.get(rule_id)
    if known:
        return known
    sample = findings[0]
    if sample.checkov_id in builtin_checks():  # a built-in Checkov check: its name, its guideline
        guideline = sample.fix if sample.fix.startswith(("https://", "http://")) else ""
        return RuleHelp(id=rule_id, description=builtin_checks()[sample.checkov_id], fix=sample.fix,
                        checkov_id=sample.checkov_id, tags=("checkov",), help_uri=guideline)
    return RuleHelp(id=rule_id, description=sample.message, fix=sample.fix, checkov_id=sample.checkov_id)


def _short(description: str) -> str:
    """The first sentence of a description (SARIF's shortDescription)."""
    first = description.split(". ", 1)[0].rstrip(".")
    return first + "." if first else description


def _artifact_uri(file: str) -> str:
    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def to_sarif(report: Report) -> dict:
    findings = _sorted(report.findings)
    by_rule: dict = defaultdict(list)
    for f in findings:
        by_rule[f.rule].append(f)
    rule_ids = sorted(set(by_rule) | set(report.rules))
    rules = []
    for rule_id in rule_ids:
        info = _rule_help(rule_id, report, by_rule.get(rule_id) or [Finding(rule_id, "", "", "", "")])
        entry = {
            "id": rule_id,
            "name": rule_id,
            "shortDescription": {"text": _short(info.description or rule_id)},
            "fullDescription": {"text": info.description or rule_id},
            "help": {"text": info.fix or info.description or rule_id},
            "properties": {"tags": list(info.tags)},
        }
        if info.help_uri:
            entry["helpUri"] = info.help_uri
        if info.checkov_id:
            entry["properties"]["checkov_id"] = info.checkov_id
        rules.append(entry)
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    results = []
    for f in findings:
        result = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _sarif_level(f),
            "message": {"text": f"{f.resource}: {f.message}" + (f" Fix: {f.fix}" if f.fix else "")},
            "locations": [_location(f)],
            "properties": {"engine": f.engine, "enforcement": f.level, "blocking": f.blocking,
                           **({"resourceLine": f.line} if f.line else {}),
                           **({"urn": f.urn} if f.urn else {}), **({"path": f.path} if f.path else {}),
                           **({"origin": f.origin} if f.origin else {}),
                           **({"gateOnly": True, "tags": ["gate-only"]} if f.gate_only else {})},
        }
        if f.related:
            result["relatedLocations"] = [_related_location(i, r) for i, r in enumerate(f.related)]
        if f.waiver:
            result["suppressions"] = [{"kind": "external", "status": "accepted",
                                       "justification": f"waiver {f.waiver} in the waiver registry"}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "informationUri": TOOL_URI,
                                "version": str(report.meta.get("version", "0.1.0")), "rules": rules}},
            "results": results,
        }],
    }


def _location(f: Finding) -> dict:
    location: dict = {"logicalLocations": [{"fullyQualifiedName": f.resource, "kind": "resource"}]}
    if f.file:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": _artifact_uri(f.file)},
            "region": {"startLine": f.field_line or f.line or 1},
        }
    return location


def _related_location(index: int, related) -> dict:
    location: dict = {"id": index, "message": {"text": f"{related.role}: {related.message}"}}
    if related.file:
        location["physicalLocation"] = {"artifactLocation": {"uri": _artifact_uri(related.file)},
                                        **({"region": {"startLine": related.line}} if related.line else {})}
    return location


def write_sarif(report: Report, path: str | os.PathLike) -> None:
    _write(path, json.dumps(to_sarif(report), indent=2) + "\n")


# --- JUnit XML -----------------------------------------------------------------------------------

def to_junit(report: Report) -> ET.Element:
    """One testcase per resource x rule: failure if blocking, skipped if waived, pass otherwise."""
    pairs: dict = defaultdict(list)
    for c in report.checked:
        pairs[(c.resource, c.rule)]
    for f in report.findings:
        pairs[(f.resource, f.rule)].append(f)
    suite = ET.Element("testsuite", name=report.title)
    failures = skipped = 0
    for (resource, rule), findings in sorted(pairs.items()):
        case = ET.SubElement(suite, "testcase", classname=resource, name=rule)
        blocking = [f for f in findings if f.blocking]
        waived = [f for f in findings if f.waiver]
        if blocking:
            failures += 1
            failure = ET.SubElement(case, "failure", type=blocking[0].level,
                                    message="; ".join(f"{f.engine}: {f.message}" for f in blocking))
            failure.text = "\n".join(f"{f.level} [{f.engine}] {_where(f)}: {f.message}"
                                     + (f"\nfix: {f.fix}" if f.fix else "") for f in blocking)
        elif waived:
            skipped += 1
            ET.SubElement(case, "skipped", message="waived by " + ", ".join(sorted({f.waiver for f in waived})))
        advisory = [f for f in findings if not f.blocking and not f.waiver]
        if advisory:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{f.level} [{f.engine}] {_where(f)}: {f.message}" for f in advisory)
    suite.set("tests", str(len(pairs)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites", name=report.title, tests=str(len(pairs)), failures=str(failures),
                      errors="0", skipped=str(skipped))
    root.append(suite)
    return root


def write_junit(report: Report, path: str | os.PathLike) -> None:
    root = to_junit(report)
    ET.indent(root)
    _write(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def write_outputs(report: Report, *, json_path=None, sarif_path=None, junit_path=None) -> None:
    """The machine-readable copies a command was asked for."""
    for path, writer in ((json_path, write_json), (sarif_path, write_sarif), (junit_path, write_junit)):
        if path:
            writer(report, path)


def _write(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
