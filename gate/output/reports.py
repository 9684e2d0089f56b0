"""The gate's outputs from one list of findings: the terminal table, JSON, SARIF 2.1.0, JUnit XML.

Shared by `preview` and `scan`. Nothing here decides what is a finding, its level or whether it
blocks (`Finding.blocking` and `gate/levels.py` do); these writers only present. Every output carries
the configured level (SARIF: error, warning or note), the engines that found each finding, the
line of the program that created the resource where known (`preview`), the file, the line of the
resource and, where known, of the offending field (recorded by `manifest_files.py`, never looked up
again here). SARIF names files relative to the repository root and fingerprints each result by
rule, resource and field; the table and JUnit show text from the input `printable`. The
full description of a rule is in SARIF's rule metadata (`fullDescription`, `helpUri` into
docs/policies.md); a finding's message says what is wrong on its resource. They never see secret
values: the manifests they point at are the redacted rendered files, and messages are scrubbed
before they get here.
"""
from __future__ import annotations

import hashlib
import json
import textwrap
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable
from urllib.parse import quote

from stateless_pack.gate.findings import Finding, Related, Subject
from stateless_pack.gate.gate_checks import GATE_CHECKS
from stateless_pack.gate.output import paths
from stateless_pack.gate.output.terminal import paint, printable
from stateless_pack.gate.source_positions import source_root
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
    """The verdict; how many distinct findings of each kind; how many resources were checked and how
    many of them have findings (a run that checked nothing must not look like a clean one); and how
    many findings are about something else (a file, the waiver registry, the stack)."""
    findings = report.findings
    blocking = sum(f.blocking for f in findings)
    waived = sum(bool(f.waiver) for f in findings)
    advisory = len(findings) - blocking - waived
    with_findings = {f.subject for f in findings if f.subject is not None}
    checked = report.resources
    if checked is None:
        checked = len({c.resource for c in report.checked} | {s.display for s in with_findings})
    other = sum(f.subject is None for f in findings)
    verdict = "BLOCKED" if blocking else "PASSED"
    return (f"{verdict}: {blocking} blocking, {advisory} advisory, {waived} waived finding(s); "
            f"{checked} resource(s) checked, {len(with_findings)} with findings"
            + (f"; {other} finding(s) not about a checked resource" if other else ""))


_STATUS_COLORS = {"BLOCK": "red", "WARN": "yellow", "WAIVED": "cyan"}


def _shown_path(file: str) -> str:
    """A file as the table shows it: relative to the current folder when it is below it."""
    try:
        return Path(file).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return file


def _where(f: Finding) -> str:
    """Where the table and JUnit say a finding is: the program line that created the resource (and the
    rendered file it was checked in), else the file and line, else the URN."""
    rendered = (f"{_shown_path(f.file)}:{f.line}" if f.line else _shown_path(f.file)) if f.file else ""
    if f.source_file:
        source = f"{_shown_path(f.source_file)}:{f.source_line}" if f.source_line else _shown_path(f.source_file)
        return source + (f"; rendered {_shown_path(f.file)}" if f.file and f.file != f.source_file else "")
    return rendered or f.urn


def _engines(f: Finding) -> str:
    return ",".join(f.engines)


def print_table(report: Report, out: IO[str], width: int = 110, color: bool = False) -> None:
    """One block per resource (with where it is); per finding: status, rule, the engines that found
    it, level, message, field and its line, fix, waiver. Text from the input is shown `printable`.
    `color`: status words and verdict in colour."""
    groups: dict = defaultdict(list)
    for f in report.findings:
        groups[(f.resource, _where(f))].append(f)
    out.write(f"{printable(report.title)}\n")
    if not groups:
        out.write("\nNo findings.\n")
    rule_w = max([len(printable(f.rule)) for f in report.findings] + [4])
    engine_w = max([len(_engines(f)) for f in report.findings] + [7])
    indent = " " * (2 + 7 + rule_w + 1 + engine_w + 1 + 10)
    wrap_at = max(30, width - len(indent))
    for key in sorted(groups, key=lambda k: (not any(f.blocking for f in groups[k]), k)):
        resource, where = key
        findings = _sorted(groups[key])
        out.write(f"\n{printable(resource)}" + (f"  ({printable(where)})" if where else "") + "\n")
        out.writelines(f"  {printable(note)}\n" for note in _resource_notes(findings[0]))
        out.write(f"  {'STATUS':<6} {'RULE':<{rule_w}} {'ENGINES':<{engine_w}} {'LEVEL':<9} MESSAGE\n")
        for f in findings:
            note = [f.path] if f.path and f.path not in f.message else []
            if f.field_line and f.field_line != f.line:
                note.append(f"{'rendered ' if f.source_file else ''}line {f.field_line}")
            message = printable(f.message + (f" [{', '.join(note)}]" if note else ""))
            lines = textwrap.wrap(message, wrap_at) or [""]
            status = paint(f"{status_of(f):<6}", _STATUS_COLORS[status_of(f)], color)
            out.write(f"  {status} {printable(f.rule):<{rule_w}} {_engines(f):<{engine_w}} {f.level:<9} {lines[0]}\n")
            extra = lines[1:]
            for related in f.related:  # a chart's values keys, the rendered document
                extra += textwrap.wrap(printable(f"{related.role}: {related.message}"), wrap_at)
            extra += textwrap.wrap(printable(f"fix: {f.fix}"), wrap_at) if f.fix else []
            extra += [printable(f"waiver: {f.waiver}")] if f.waiver else []
            out.writelines(f"{indent}{line}\n" for line in extra)
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
            "findings": len(findings),
            **({"resources": report.resources} if report.resources is not None else {}),
            "resources_with_findings": len({f.subject for f in findings if f.subject is not None}),
        },
        "findings": [f.to_dict() for f in sorted(findings, key=lambda f: f.resource)],
    }


def json_text(report: Report) -> str:
    return json.dumps(to_json(report), indent=2, sort_keys=False) + "\n"


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


SRCROOT = "%SRCROOT%"
FINGERPRINT = "statelessPack/v1"  # partialFingerprints key: bump when what it hashes changes


def _artifact(file: str, root: Path) -> dict:
    """A file as SARIF names it: relative to `root` (uriBaseId %SRCROOT%), else an absolute file URI."""
    path = Path(file).resolve()
    try:
        return {"uri": quote(path.relative_to(root).as_posix()), "uriBaseId": SRCROOT}
    except ValueError:
        return {"uri": path.as_uri()}


def fingerprint(f: Finding) -> str:
    """Stable across runs for one finding: its rule, the resource (URN, else its name) and the field;
    never a line or the path of a temporary folder. A finding about no resource adds its message."""
    parts = [f.rule, f.urn or f.resource, f.path] + ([f.message] if f.subject is None and not f.path else [])
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _sarif_rules(report: Report, by_rule: Mapping[str, list]) -> list:
    rules = []
    for rule_id in sorted(set(by_rule) | set(report.rules)):
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
    return rules


def _sarif_result(f: Finding, rule_index: int, root: Path) -> dict:
    result = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": _sarif_level(f),
        "message": {"text": f"{f.resource}: {f.message}" + (f" Fix: {f.fix}" if f.fix else "")},
        "locations": [_location(f, root)],
        "partialFingerprints": {FINGERPRINT: fingerprint(f)},
        "properties": {"engine": f.engine, "engines": list(f.engines), "enforcement": f.level,
                       "blocking": f.blocking, **({"resourceLine": f.line} if f.line else {}),
                       **({"urn": f.urn} if f.urn else {}), **({"path": f.path} if f.path else {}),
                       **({"origin": f.origin} if f.origin else {}),
                       **({"gateOnly": True, "tags": ["gate-only"]} if f.gate_only else {})},
    }
    related = _related(f)
    if related:
        result["relatedLocations"] = [_related_location(i, r, root) for i, r in enumerate(related)]
    if f.waiver:
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": f"waiver {f.waiver} in the waiver registry"}]
    return result


def to_sarif(report: Report, root: Path | None = None) -> dict:
    """SARIF 2.1.0: a result per finding at the program line that created its resource (the rendered
    manifest as a related location) or at its file and line; files relative to `root` (default:
    `source_root()`)."""
    root = root or source_root()
    findings = _sorted(report.findings)
    by_rule: dict = defaultdict(list)
    for f in findings:
        by_rule[f.rule].append(f)
    rules = _sarif_rules(report, by_rule)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "informationUri": TOOL_URI,
                                "version": str(report.meta.get("version", "0.1.0")), "rules": rules}},
            "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
            "results": [_sarif_result(f, index[f.rule], root) for f in findings],
        }],
    }


def _location(f: Finding, root: Path) -> dict:
    location: dict = {"logicalLocations": [{"fullyQualifiedName": f.resource, "kind": "resource"}]}
    if f.source_file:
        location["physicalLocation"] = {"artifactLocation": _artifact(f.source_file, root),
                                        "region": {"startLine": f.source_line or 1}}
    elif f.file:
        location["physicalLocation"] = {"artifactLocation": _artifact(f.file, root),
                                        "region": {"startLine": f.field_line or f.line or 1}}
    return location


def _related(f: Finding) -> tuple:
    """The places SARIF relates to a finding: its own (a chart's rendered document, the values keys
    behind the field), and for a finding at a program line the rendered manifest the engines read."""
    if not (f.source_file and f.file) or any(r.role == "rendered" for r in f.related):
        return f.related
    rendered = Related("rendered", "the rendered manifest the engines checked" + (f" ({f.path})" if f.path else ""),
                       f.file, f.field_line or f.line)
    return (*f.related, rendered)


def _related_location(index: int, related: Related, root: Path) -> dict:
    location: dict = {"id": index, "message": {"text": f"{related.role}: {related.message}"}}
    if related.file:
        location["physicalLocation"] = {"artifactLocation": _artifact(related.file, root),
                                        **({"region": {"startLine": related.line}} if related.line else {})}
    return location


def sarif_text(report: Report) -> str:
    return json.dumps(to_sarif(report), indent=2) + "\n"


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
                                    message="; ".join(f"{_engines(f)}: {f.message}" for f in blocking))
            failure.text = "\n".join(f"{f.level} [{_engines(f)}] {_where(f)}: {f.message}"
                                     + (f"\nfix: {f.fix}" if f.fix else "") for f in blocking)
        elif waived:
            skipped += 1
            ET.SubElement(case, "skipped", message="waived by " + ", ".join(sorted({f.waiver for f in waived})))
        advisory = [f for f in findings if not f.blocking and not f.waiver]
        if advisory:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{f.level} [{_engines(f)}] {_where(f)}: {f.message}" for f in advisory)
    suite.set("tests", str(len(pairs)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites", name=report.title, tests=str(len(pairs)), failures=str(failures),
                      errors="0", skipped=str(skipped))
    root.append(suite)
    for element in root.iter():  # XML 1.0 cannot hold control characters; CI pages show it as text
        element.attrib.update({key: printable(value) for key, value in element.attrib.items()})
        element.text = printable(element.text, newlines=True) if element.text else element.text
    return root


def junit_text(report: Report) -> str:
    root = to_junit(report)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_outputs(report: Report, *, json_path=None, sarif_path=None, junit_path=None) -> None:
    """The machine-readable copies a command was asked for (their paths checked before the run,
    `gate/output/paths.py`); a file that cannot be written is an OutputPathError."""
    for option, path, text in (("--json", json_path, json_text), ("--sarif", sarif_path, sarif_text),
                               ("--junit", junit_path, junit_text)):
        if path:
            paths.write_text(option, path, text(report))
