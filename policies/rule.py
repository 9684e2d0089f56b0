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

Workloads: a rule whose `kinds` hold `POD_TEMPLATES` judges every resource that carries a pod template,
whatever its kind (`manifest.pod_spec_paths`). A manifest with several pod templates (a kind the
catalog does not know, e.g. a RayCluster's head and workers) is judged once per template
(`manifest.pod_views`), so that no rule mixes one pod's containers with another's volumes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from stateless_pack.policies.manifest import POD_TEMPLATES, carries_pod_template, kind_of, pod_views, sequence

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
    kinds: frozenset     # manifest kinds the rule looks at (POD_TEMPLATES: every workload, see above)
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

    def judges(self, manifest: Any) -> bool:
        """Is this manifest of a kind the rule looks at (a workload, for a pod-template rule)?"""
        return kind_of(manifest) in self.kinds or (POD_TEMPLATES in self.kinds and carries_pod_template(manifest))

    def applies_to(self, manifest: Any, partial: bool = False) -> bool:
        """Does this rule judge this manifest: its kind, and a partial one only if it may (a stack
        rule never does)?"""
        return self.judges(manifest) and (
            not partial or (self.judges_partial_manifests and not self.stack))

    def defaults(self) -> dict:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}

    def run(self, manifest_or_stack: Any, config: Mapping | None = None) -> list:
        """Run with schema defaults filled in, each pod template on its own; never lets a malformed
        manifest raise."""
        settings = {**self.defaults(), **(config or {})}
        if self.stack:
            owners, views = [], []
            for index, manifest in enumerate(sequence(manifest_or_stack)):
                for view in pod_views(manifest):
                    owners.append(index)
                    views.append(view)
            return list(dict.fromkeys((owners[i], v) for i, v in self.check(views, settings)))
        if not self.judges(manifest_or_stack):
            return []
        return list(dict.fromkeys(v for view in pod_views(manifest_or_stack) for v in self.check(view, settings)))
