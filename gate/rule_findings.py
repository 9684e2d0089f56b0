"""Our rule catalog over a set of manifests, as findings: what `preview` checks the pack against and
what `scan` runs on every parsed resource (whether or not Checkov kept it).

Rules run with the settings of the policy configuration; the findings carry the rule's own level
until `gate/levels.py` sets the configured one.
"""
from __future__ import annotations

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.policies.catalog import rules
from stateless_pack.policies.policy_config import PolicyConfig
from stateless_pack.policies.rule import Rule, Violation


def _finding(rule: Rule, violation: Violation, subject: Subject, engine: str) -> Finding:
    return Finding(rule=rule.name, engine=engine, level=rule.level, message=violation.message,
                   path=violation.path, fix=rule.remediation, checkov_id=rule.checkov_id,
                   **subject.about(violation.path))


def rule_findings(subjects: list[Subject], engine: str, config: PolicyConfig | None = None) -> list[Finding]:
    """Every violation of every rule (resource rules per manifest, stack rules over all whole
    manifests; a partial manifest only by the rules that may judge one)."""
    config = config or PolicyConfig()
    found = []
    whole = [s for s in subjects if not s.partial]
    for rule in rules():
        settings = config.settings(rule.name)
        if rule.stack:
            for index, violation in rule.run([s.manifest for s in whole], settings):
                found.append(_finding(rule, violation, whole[index], engine))
        else:
            for subject in subjects:
                if rule.applies_to(subject.manifest, subject.partial):
                    found.extend(_finding(rule, v, subject, engine) for v in rule.run(subject.manifest, settings))
    return found
