"""One finding per resource, rule and field, with every engine that found it; where two engines ran
one rule on one resource, they must agree.

Our rules run in the gate (`preview`: engine `crossguard`, cross-checked against the pack; `scan`:
`rules`) and again inside Checkov as our `CKV_STL_*` checks. Both verdicts on one resource are one
finding each of our rule's violations (Checkov's one finding per check carries the same fields),
listed with both engines, and counted once. Where only one of them finds a violation on a resource
that both judged, the violation is reported by the engine that found it and an `engines-disagree`
finding blocks: a disagreement is never resolved by believing either side.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from stateless_pack.gate.findings import Finding
from stateless_pack.gate.gate_checks import DISAGREEMENT
from stateless_pack.policies.rule import MANDATORY

CHECKOV = "checkov"


def combine(ours: list[Finding], checkov: list[Finding], judged: set, *, engine: str) -> list[Finding]:
    """`ours` (our rules' findings, by `engine`) and `checkov` (Checkov's) as one list: a Checkov
    finding of our check on a (resource, rule) pair in `judged` (both engines ran it there:
    `checkov.findings.judged_by_our_checks`) adds Checkov to the engines of our findings of that pair
    instead of being reported again; a pair in `judged` that only one engine found adds an
    `engines-disagree` finding. Checkov's other findings, and ours where Checkov did not run the
    rule, are kept as they are."""
    theirs: dict = defaultdict(list)
    rest = []
    for f in checkov:
        (theirs[(f.resource_key, f.rule)] if (f.resource_key, f.rule) in judged else rest).append(f)
    found = {(f.resource_key, f.rule) for f in ours}
    combined = []
    for f in ours:
        both = theirs.get((f.resource_key, f.rule))
        combined.append(replace(f, engines=(f.engine, CHECKOV)) if both else f)
    only_ours = {pair: f for f in ours if (pair := (f.resource_key, f.rule)) in judged and pair not in theirs}
    only_checkov = {pair: fs for pair, fs in theirs.items() if pair not in found}
    disagreements = [_disagreement(f, engine, found_by="our rule", missed_by="Checkov") for f in only_ours.values()]
    for fs in only_checkov.values():
        combined += fs
        disagreements.append(_disagreement(fs[0], engine, found_by="Checkov", missed_by="our rule"))
    return list(dict.fromkeys(combined + rest + disagreements))  # an exact repeat once


def _disagreement(sample: Finding, engine: str, *, found_by: str, missed_by: str) -> Finding:
    check = sample.checkov_id or "its Checkov check"
    return replace(
        sample, rule=DISAGREEMENT.name, engine=engine, engines=(engine, CHECKOV), level=MANDATORY,
        checkov_id="", waiver="", fix=DISAGREEMENT.fix,
        message=f"{sample.rule} and {check} disagree on this resource: {found_by} finds a violation "
                f"({sample.message}), {missed_by} does not")
