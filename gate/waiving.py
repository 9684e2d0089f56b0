"""The waiver pass over the gate's findings: `preview` and `scan` both end here.

Every finding is asked of the run's `WaiverPass` by its rule ids and its resource (never by its
words); every checked resource's suppressions are checked; the registry's own problems, expired
and stale waivers become findings. The pack's diagnostics for the same policies are cross-checked
in `commands/preview.py`, not merged from their text.
"""
from __future__ import annotations

from dataclasses import replace

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.policies.waivers import wording
from stateless_pack.policies.waivers.decisions import WaiverPass


def apply_waivers(state: WaiverPass, findings: list[Finding], subjects: list[Subject],
                  *, engine: str = "waivers") -> list[Finding]:
    """`findings` with their waivers decided, plus the waiver policies' own findings."""
    decided = []
    for f in findings:
        waiver = state.waiver_for(f.rule_ids, f.subject) if f.subject is not None else None
        decided.append(replace(f, waiver=waiver.id if waiver else ""))
    for subject in subjects:
        for violation in state.unbacked(subject.manifest, subject.ref):
            decided.append(Finding(
                rule=wording.UNBACKED_POLICY, engine=engine, level="mandatory", message=violation.message,
                path=violation.path, fix=wording.UNBACKED_FIX, **subject.about(violation.path)))
    where = state.source or "waiver registry"
    decided += [Finding(rule=wording.REGISTRY_POLICY, engine=engine, level="mandatory",
                        resource=p.file or where, message=wording.registry_invalid(p),
                        fix=wording.REGISTRY_FIX, file=p.file) for p in state.problems]
    decided += [Finding(rule=wording.EXPIRED_POLICY, engine=engine, level="mandatory", resource=where,
                        message=wording.expired(state, w), fix=wording.EXPIRED_FIX, file=where)
                for w in state.expired()]
    decided += [Finding(rule=wording.STALE_POLICY, engine=engine, level="advisory", resource=where,
                        message=wording.stale(state, w), fix=wording.STALE_FIX, file=where)
                for w in state.stale()]
    return decided
