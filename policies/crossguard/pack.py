"""The rule catalog as CrossGuard policies, plus the waiver policies: what `__main__.py` of a pack
folder hands to `PolicyPack`.

Every resource rule becomes one `ResourceValidationPolicy`, every stack rule one
`StackValidationPolicy` (same name, description, remediation, level and config schema as in the
catalog); every violation goes through `reporting.report`. A `<Kind>List` resource is judged item
by item, a `<Kind>Patch` only by the rules that may judge a partial manifest (as in the gate:
`crossguard/manifests.py`). Messages are redacted with the values the engine marked secret in this
call (`request_memo.call_secrets`) besides those found at credential-bearing positions.
"""
from __future__ import annotations

import os

from pulumi_policy import (
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from stateless_pack.policies import catalog
from stateless_pack.policies.crossguard import request_memo, waiver_policies
from stateless_pack.policies.crossguard.manifests import cached_manifests
from stateless_pack.policies.crossguard.reporting import Reporter, report
from stateless_pack.policies.crossguard.run_waivers import ref_of, set_pack_dir
from stateless_pack.policies.crossguard.settings import SDK_LEVELS, rule_settings
from stateless_pack.policies.gate_lifetime import end_with_gate
from stateless_pack.policies.gc_tuning import collect_rarely
from stateless_pack.policies.redaction import sensitive_values
from stateless_pack.policies.rule import Rule

PACK_NAME = "stateless-pack"
_SEVERITY = {"sessions": Severity.HIGH, "storage": Severity.HIGH,
             "resilience": Severity.MEDIUM, "data-store": Severity.CRITICAL}


def _sensitive(manifest) -> set:
    return sensitive_values(manifest) | request_memo.call_secrets()


def _resource_validation(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        found = cached_manifests(args.resource_type, args.props, args.name)
        judged = [m for m in found if rule.applies_to(m, found.partial)]
        if not judged:
            return  # most policies, for most resources: nothing more to do
        reporter = Reporter(report_violation)
        for manifest in judged:
            violations = rule.run(manifest, rule_settings(rule, args.get_config()))
            if not violations:
                continue  # the common case: skip identity and redaction work
            ref, sensitive = ref_of(manifest, args.urn), _sensitive(manifest)
            for violation in violations:
                report(rule, violation, ref, reporter, sensitive)
        reporter.finish()
    return validate


def _stack_validation(rule: Rule):
    def validate(args: StackValidationArgs, report_violation) -> None:
        manifests, owners = [], []
        for resource in args.resources:
            found = cached_manifests(resource.resource_type, resource.props, resource.name)
            if not found.partial:  # stack rules judge whole manifests only
                manifests.extend(found)
                owners.extend(resource for _ in found)
        reporter = Reporter(report_violation)
        for index, violation in rule.run(manifests, rule_settings(rule, args.get_config())):
            manifest = manifests[index]  # identities and redaction for violators only
            report(rule, violation, ref_of(manifest, owners[index].urn), reporter, _sensitive(manifest))
        reporter.finish()
    return validate


def policy_for(rule: Rule):
    common = dict(
        name=rule.name,
        description=rule.description,
        enforcement_level=SDK_LEVELS[rule.level],
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config_schema.items()})
        if rule.config_schema else None,
        severity=_SEVERITY.get(rule.category, Severity.MEDIUM),
        tags=[rule.category, rule.checkov_id],
        remediation_steps=rule.remediation,
    )
    if rule.stack:
        return StackValidationPolicy(validate=_stack_validation(rule), **common)
    return ResourceValidationPolicy(validate=_resource_validation(rule), **common)


def build_policies(pack_dir: str | os.PathLike | None = None) -> list:
    """One CrossGuard policy per catalog rule, plus the waiver policies (built once, at pack start).
    `pack_dir`: the pack folder (its own approvers.yaml, if any, names the approvers)."""
    set_pack_dir(pack_dir)
    collect_rarely()  # policies/gc_tuning.py: a third of the pack's time at 5,000 resources
    end_with_gate()  # policies/gate_lifetime.py: started by the gate, the pack ends with it
    request_memo.install()  # the SDK's per-policy property conversion, once per call instead
    return [policy_for(rule) for rule in catalog.rules()] + waiver_policies.policies()
