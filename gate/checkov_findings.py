"""Checkov's results as findings about the resources the gate checked.

Each checked manifest is its own file, so Checkov's file names the resource even where Checkov
names a part of it (the pod of a Deployment's template is `Pod/<ns>/<name>.<labels>` to Checkov).
A skip Checkov honoured is itself a finding: Checkov did not evaluate that check, so it blocks
unless the waiver pass finds a waiver for exactly that check and resource.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.policies.catalog import rules


def checkov_findings(scan, by_file: dict[str, Subject]) -> list[Finding]:
    """`scan` (a CheckovScan) as findings; `by_file` maps resolved file paths to their subjects."""
    ours = {r.name: r for r in rules()}

    def subject_of(file: str) -> Subject | None:
        return by_file.get(str(Path(file).resolve())) if file else None

    findings = []
    for f in scan.findings:
        subject = subject_of(f.file)
        level = ours[f.rule].level if f.rule in ours else f.level  # our advisory rules stay advisory
        if subject is None:
            findings.append(replace(f, level=level))
            continue
        findings.append(replace(f, level=level, resource=subject.ref.display, urn=subject.ref.urn,
                                file=subject.file, line=subject.line, subject=subject.ref))
    for s in scan.suppressions:
        subject = subject_of(s.file)
        findings.append(Finding(
            rule=s.rule, engine="checkov", level="mandatory",
            resource=subject.ref.display if subject else s.resource,
            message=f"Checkov did not evaluate {s.checkov_id}: an annotation skips it ({s.comment})",
            file=subject.file if subject else s.file, urn=subject.ref.urn if subject else "",
            checkov_id=s.checkov_id, line=subject.line if subject else 0,
            subject=subject.ref if subject else None))
    return findings
