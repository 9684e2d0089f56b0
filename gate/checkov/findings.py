"""Checkov's results as findings about the resources the gate checked.

Checkov's findings come back with the file and line of the manifest they are about (the runner
hands Checkov one manifest per file), so they name the resource even where Checkov names a part of
it (the pod of a Deployment's template is `Pod/<ns>/<name>.<labels>` to Checkov).
A finding says what is wrong on that resource: for our `CKV_STL_*` checks the rule's own message
(the rule is rerun on the same manifest with the same settings), for a built-in check its name and
the field it looked at; the check's full description is in the report's rule metadata.
The gate hands Checkov no skip annotations; should Checkov still report a skip, it is a finding
that blocks unless the waiver pass finds a waiver for exactly that check and resource. A resource
Checkov did not evaluate at all is a `not-checked-by-checkov` finding.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.gate_checks import NOT_CHECKED
from stateless_pack.policies.catalog import rules
from stateless_pack.policies.manifest import get, undotted
from stateless_pack.policies.policy_config import PolicyConfig
from stateless_pack.policies.rule import MANDATORY


def subject_key(file: str, line: int) -> tuple:
    return (str(Path(file).resolve()), line)


def by_location(subjects: list[Subject]) -> dict:
    """The subjects by the file and line of the manifest Checkov was handed (their own)."""
    return {subject_key(s.file, s.line): s for s in subjects}


def checkov_findings(scan, by_key: dict, config: PolicyConfig | None = None) -> list[Finding]:
    """`scan` (a CheckovScan) as findings about the subjects in `by_key` ({subject_key: Subject}, the
    file and line of the manifest Checkov was handed)."""
    config = config or PolicyConfig()

    def subject_of(item) -> Subject | None:
        return by_key.get(subject_key(item.file, item.line)) if item.file else None

    findings = []
    for f in scan.findings:
        subject = subject_of(f)
        if subject is None:
            findings.append(f)
            continue
        path = _paths_in(subject.manifest, f.path)
        findings.append(replace(f, message=_message(f, path, subject, config), path=path,
                                **subject.about(path.split(", ")[0])))
    for s in scan.suppressions:
        subject = subject_of(s)
        findings.append(Finding(
            rule=s.rule, engine="checkov", level=MANDATORY,
            message=f"Checkov did not evaluate {s.checkov_id}: an annotation skips it ({s.comment})",
            checkov_id=s.checkov_id, **(subject.about() if subject else {"resource": s.resource, "file": s.file})))
    for file, line in scan.unevaluated:  # each one a finding, whether or not a subject is found
        subject = by_key.get(subject_key(file, line))
        findings.append(Finding(
            rule=NOT_CHECKED.name, engine="checkov", level=MANDATORY,
            message="not checked by Checkov: it dropped this manifest without a word (our rules "
                    "still checked it; Checkov's built-in checks did not)",
            fix=NOT_CHECKED.fix,
            **(subject.about() if subject else {"resource": f"{file}:{line}", "file": file, "line": line})))
    return findings


def judged_by_our_checks(scan, by_key: dict) -> set:
    """(subject key, rule name) for every resource rule Checkov ran as our check: each rule of the
    manifest's kind, on every whole manifest Checkov evaluated, less the checks an annotation skipped
    (the runner made sure each of those has a verdict: `_require_our_checks_ran`)."""
    dropped = {subject_key(file, line) for file, line in scan.unevaluated}
    skipped = {(subject_key(s.file, s.line), s.rule) for s in scan.suppressions if s.file}
    resource_rules = [rule for rule in rules() if not rule.stack]
    return {(subject.key, rule.name) for location, subject in by_key.items()
            if location not in dropped and not subject.partial
            for rule in resource_rules
            if rule.applies_to(subject.manifest, False) and (location, rule.name) not in skipped}


def _paths_in(manifest, paths: str) -> str:
    """Checkov's evaluated keys that are fields of the manifest (a graph check says `resource_type`)."""
    kept = [p for p in paths.split(", ") if p and undotted(p) and isinstance(manifest, dict)
            and undotted(p)[0] in manifest]
    return ", ".join(kept)


def _message(finding: Finding, path: str, subject: Subject, config: PolicyConfig) -> str:
    rule = next((r for r in rules() if r.name == finding.rule), None)
    if rule is not None:  # our check: the rule says what it found
        found = [v.message for v in rule.run(subject.manifest, config.settings(rule.name))]
        return "; ".join(dict.fromkeys(found)) or finding.message
    if not path:
        return finding.message
    missing = [p for p in path.split(", ") if get(subject.manifest, *undotted(p), default=_MISSING) is _MISSING]
    if missing:
        return f"{finding.message}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"
    return f"{finding.message} (checked {path})"


_MISSING = object()
