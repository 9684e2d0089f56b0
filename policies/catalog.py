"""The engine-neutral rule catalog: metadata + check function for every rule.

A rule is a plain function over a Kubernetes manifest (a dict) that yields `Violation`s. It imports
nothing from Pulumi or Checkov; the CrossGuard pack (`policies/__main__.py`), the Checkov checks
(`policies/checkov_checks/`) and the gate all run these same functions.

Resource rules: `check(manifest, config) -> Iterable[Violation]`.
Stack rules (need several resources): `check(manifests, config) -> Iterable[(index, Violation)]`
where `index` points into `manifests`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from policies.manifest import kind_of

ADVISORY = "advisory"
MANDATORY = "mandatory"


@dataclass(frozen=True)
class Violation:
    path: str          # offending field, e.g. "spec.template.spec.containers[0].securityContext"
    message: str       # what is wrong, naming the value found
    unknown: bool = False  # the decision depends on a value unknown during preview


@dataclass(frozen=True)
class Rule:
    name: str            # stable kebab-case id, used in config, waivers and reports
    checkov_id: str      # CKV_STL_<n>
    category: str        # sessions | storage | resilience | data-store
    description: str
    remediation: str
    kinds: frozenset     # manifest kinds the rule looks at
    check: Callable[..., Iterable]
    level: str = MANDATORY
    stack: bool = False  # needs the whole stack: CrossGuard stack policy / gate adapter only
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # JSON schema props
    waiver_approver: str | None = None  # role that alone may waive it (e.g. "head-of-devops")

    def defaults(self) -> dict:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}

    def run(self, manifest_or_stack: Any, config: Mapping | None = None) -> list:
        """Run with schema defaults filled in; never lets a malformed manifest raise."""
        if not self.stack and kind_of(manifest_or_stack) not in self.kinds:
            return []
        return list(self.check(manifest_or_stack, {**self.defaults(), **(config or {})}))


def rules() -> list[Rule]:
    """All rules, ordered by Checkov id number."""
    from policies.rules import ALL_RULES  # late import: rule modules import this module

    return sorted(ALL_RULES, key=lambda r: int(r.checkov_id.rsplit("_", 1)[1]))


def rule_by_name(name: str) -> Rule:
    for r in rules():
        if r.name == name or r.checkov_id == name:
            return r
    raise KeyError(f"unknown rule {name!r}")
