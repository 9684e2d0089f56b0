"""The gate's outputs from one list of findings: the terminal table, JSON, SARIF 2.1.0, JUnit XML.

Shared by `preview` and `scan`. Nothing here decides what is a finding or whether it blocks
(`Finding.blocking` does); these writers only present. They never see secret values: the manifests
they point at are the redacted rendered files, and messages are scrubbed before they get here.
"""
from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import IO, Iterable, Sequence

import yaml

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.policies.catalog import rules as catalog_rules

TOOL_NAME = "stateless-pack"
TOOL_URI = "https://github.com/stateless-pack/stateless-pack"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True)
class RuleHelp:
    """What SARIF says about a rule: its description and how to fix it."""
    id: str
    description: str
    fix: str = ""
    checkov_id: str = ""
    tags: tuple = ()


@dataclass(frozen=True)
class Checked:
    """One resource x rule pair that was evaluated (JUnit needs the passes too)."""
    resource: str
    rule: str


def rule_help() -> dict:
    """SARIF's rule metadata for every rule of the catalog."""
    return {r.name: RuleHelp(id=r.name, description=r.description, fix=r.remediation,
                             checkov_id=r.checkov_id, tags=(r.category, r.checkov_id)) for r in catalog_rules()}


def checked_pairs(subjects: Iterable[Subject]) -> list:
    """Every (resource, rule) pair our rules evaluated: JUnit lists the passes too."""
    return [Checked(s.ref.display, rule.name) for s in subjects for rule in catalog_rules()
            if rule.applies_to(s.manifest, s.partial)]


@dataclass
class Report:
    findings: list
    checked: list = field(default_factory=list)        # Checked pairs (besides those with findings)
    rules: Mapping[str, RuleHelp] = field(default_factory=dict)
    title: str = "stateless-pack"
    meta: Mapping = field(default_factory=dict)        # program, stack, ... for JSON

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

def summary_line(findings: Sequence[Finding]) -> str:
    blocking = sum(f.blocking for f in findings)
    waived = sum(bool(f.waiver) for f in findings)
    advisory = len(findings) - blocking - waived
    resources = len({f.resource for f in findings})
    verdict = "BLOCKED" if blocking else "PASSED"
    return (f"{verdict}: {blocking} blocking, {advisory} advisory, {waived} waived finding(s) "
            f"on {resources} resource(s)")


def print_table(report: Report, out: IO[str], width: int = 110) -> None:
    """One block per resource; per finding: status, rule, engine, level, message, fix, waiver."""
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
        where = findings[0].file or findings[0].urn
        out.write(f"\n{resource}" + (f"  ({where})" if where else "") + "\n")
        out.write(f"  {'STATUS':<6} {'RULE':<{rule_w}} {'ENGINE':<{engine_w}} {'LEVEL':<9} MESSAGE\n")
        for f in findings:
            message = f.message + (f" [{f.path}]" if f.path and f.path not in f.message else "")
            lines = textwrap.wrap(message, max(30, width - len(indent))) or [""]
            out.write(f"  {status_of(f):<6} {f.rule:<{rule_w}} {f.engine:<{engine_w}} {f.level:<9} {lines[0]}\n")
            for line in lines[1:]:
                out.write(f"{indent}{line}\n")
            if f.fix:
                for i, line in enumerate(textwrap.wrap(f"fix: {f.fix}", max(30, width - len(indent)))):
                    out.write(f"{indent}{line}\n")
            if f.waiver:
                out.write(f"{indent}waiver: {f.waiver}\n")
    out.write(f"\n{summary_line(report.findings)}\n")


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
        },
        "findings": [f.to_dict() for f in sorted(findings, key=lambda f: f.resource)],
    }


def write_json(report: Report, path: str | os.PathLike) -> None:
    _write(path, json.dumps(to_json(report), indent=2, sort_keys=False) + "\n")


# --- SARIF 2.1.0 ---------------------------------------------------------------------------------

def _sarif_level(finding: Finding) -> str:
    if finding.level == "mandatory":
        return "error"
    return "warning" if finding.level == "advisory" else "note"


def _rule_help(rule_id: str, report: Report, findings: list) -> RuleHelp:
    known = report.rules.get(rule_id)
    if known:
        return known
    sample = findings[0]
    return RuleHelp(id=rule_id, description=sample.message.split(": ", 1)[-1], fix=sample.fix,
                    checkov_id=sample.checkov_id)


def yaml_line(file: str | os.PathLike, path: str) -> int:
    """1-based line of a dotted field path (`spec.template.spec.volumes[1]`) in a YAML file; the
    deepest part of the path that exists, or 1."""
    try:
        node = yaml.compose(Path(file).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return 1
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in _path_parts(path):
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            line = next(k for k, v in node.value if v is match).start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _path_parts(path: str) -> list:
    parts: list = []
    for chunk in path.replace("[", ".[").split("."):
        if not chunk:
            continue
        if chunk.startswith("[") and chunk.endswith("]"):
            inner = chunk[1:-1].strip("'\"")
            parts.append(int(inner) if inner.isdigit() else inner)
        else:
            parts.append(chunk)
    return parts


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
            "shortDescription": {"text": info.description or rule_id},
            "fullDescription": {"text": info.description or rule_id},
            "help": {"text": info.fix or info.description or rule_id},
            "properties": {"tags": list(info.tags)},
        }
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
                           **({"urn": f.urn} if f.urn else {}), **({"path": f.path} if f.path else {})},
        }
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
            "region": {"startLine": yaml_line(f.file, f.path) if f.path else 1},
        }
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
            failure = ET.SubElement(case, "failure", type="blocking",
                                    message="; ".join(f"{f.engine}: {f.message}" for f in blocking))
            failure.text = "\n".join(f"[{f.engine}] {f.message}" + (f"\nfix: {f.fix}" if f.fix else "")
                                     for f in blocking)
        elif waived:
            skipped += 1
            ET.SubElement(case, "skipped", message="waived by " + ", ".join(sorted({f.waiver for f in waived})))
        advisory = [f for f in findings if not f.blocking and not f.waiver]
        if advisory:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"advisory [{f.engine}] {f.message}" for f in advisory)
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
