"""What a rule is: metadata plus a check function over Kubernetes manifests (plain dicts).

Imports nothing from Pulumi or Checkov: the rules run in the CrossGuard pack, in Checkov's own
virtual environment and in the gate alike.

Resource rules: `check(manifest, config) -> Iterable[Violation]`.
Stack rules (need several resources): `check(manifests, config) -> Iterable[(index, Violation)]`
where `index` points into `manifests`.

Partial manifests (a Pulumi `<Kind>Patch` names only the fields it changes) are judged only by
resource rules that look for the presence of something bad (`judges_partial_manifests`): a rule
that requires something to be present would call every patch a violation. Stack rules never see
partial manifests.
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
    judges_partial_manifests: bool = False  # it flags only what is present: it may judge a Patch

    @property
    def ids(self) -> frozenset:
        """The names a finding of this rule goes by: our name and its Checkov id."""
        return frozenset({self.name, self.checkov_id})

    def applies_to(self, manifest: Any, partial: bool = False) -> bool:
        """Does this rule judge this manifest: its kind, and a partial one only if it may (a stack
        rule never does)?"""
        return kind_of(manifest) in self.kinds and (
            not partial or (self.judges_partial_manifests and not self.stack))

    def defaults(self) -> dict:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}

    def run(self, manifest_or_stack: Any, config: Mapping | None = None) -> list:
        """Run with schema defaults filled in; never lets a malformed manifest raise."""
        if not self.stack and kind_of(manifest_or_stack) not in self.kinds:
            return []
        return list(self.check(manifest_or_stack, {**self.defaults(), **(config or {})}))
