"""What a rule is: metadata plus a check function over Kubernetes manifests (plain dicts).

Imports nothing from Pulumi or Checkov: the rules run in the CrossGuard pack, in Checkov's own
virtual environment and in the gate alike.

Resource rules: `check(manifest, config) -> Iterable[Violation]`.
Stack rules (need several resources): `check(manifests, config) -> Iterable[(index, Violation)]`
where `index` points into `manifests`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from stateless_pack.policies.manifest import kind_of

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

    @property
    def ids(self) -> frozenset:
        """The names a finding of this rule goes by: our name and its Checkov id."""
        return frozenset({self.name, self.checkov_id})

    def defaults(self) -> dict:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}

    def run(self, manifest_or_stack: Any, config: Mapping | None = None) -> list:
        """Run with schema defaults filled in; never lets a malformed manifest raise."""
        if not self.stack and kind_of(manifest_or_stack) not in self.kinds:
            return []
        return list(self.check(manifest_or_stack, {**self.defaults(), **(config or {})}))
