"""Checkov's results as findings about the resources the gate checked.

Checkov's findings come back with the file and line of the manifest they are about (the runner
hands Checkov one manifest per file), so they name the resource even where Checkov names a part of
it (the pod of a Deployment's template is `Pod/<ns>/<name>.<labels>` to Checkov). The gate hands
Checkov no skip annotations; should Checkov still report a skip, it is a finding that blocks unless
the waiver pass finds a waiver for exactly that check and resource.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.policies.catalog import rules


def subject_key(file: str, line: int) -> tuple:
    return (str(Path(file).resolve()), line)


def checkov_findings(scan, subjects: list[Subject]) -> list[Finding]:
    """`scan` (a CheckovScan) as findings about `subjects` (matched by file and line)."""
    ours = {r.name: r for r in rules()}
    by_key = {subject_key(s.file, s.line): s for s in subjects}

    def subject_of(item) -> Subject | None:
        return by_key.get(subject_key(item.file, item.line)) if item.file else None

    findings = []
    for f in scan.findings:
        subject = subject_of(f)
        level = ours[f.rule].level if f.rule in ours else f.level  # our advisory rules stay advisory
        if subject is None:
            findings.append(replace(f, level=level))
            continue
        findings.append(replace(f, level=level, resource=subject.ref.display, urn=subject.ref.urn,
                                file=subject.file, line=subject.line, subject=subject.ref))
    for s in scan.suppressions:
        subject = subject_of(s)
        findings.append(Finding(
            rule=s.rule, engine="checkov", level="mandatory",
            resource=subject.ref.display if subject else s.resource,
            message=f"Checkov did not evaluate {s.checkov_id}: an annotation skips it ({s.comment})",
            file=subject.file if subject else s.file, urn=subject.ref.urn if subject else "",
            checkov_id=s.checkov_id, line=subject.line if subject else 0,
            subject=subject.ref if subject else None))
    return findings
