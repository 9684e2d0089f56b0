"""The rule catalog as CrossGuard policies, plus the waiver policies: what `__main__.py` of a pack
folder hands to `PolicyPack`.

Every resource rule becomes one `ResourceValidationPolicy`, every stack rule one
`StackValidationPolicy` (same name, description, remediation, level and config schema as in the
catalog); every violation goes through `reporting.report`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from stateless_pack.policies import catalog
from stateless_pack.policies.crossguard import request_memo, waiver_policies
from stateless_pack.policies.crossguard.manifests import cached_manifest
from stateless_pack.policies.crossguard.reporting import Reporter, report
from stateless_pack.policies.crossguard.run_waivers import ref_of, set_pack_dir
from stateless_pack.policies.manifest import kind_of
from stateless_pack.policies.redaction import sensitive_values
from stateless_pack.policies.rule import ADVISORY, MANDATORY, Rule

PACK_NAME = "stateless-pack"
_LEVELS = {MANDATORY: EnforcementLevel.MANDATORY, ADVISORY: EnforcementLevel.ADVISORY}
_SEVERITY = {"sessions": Severity.HIGH, "storage": Severity.HIGH,
             "resilience": Severity.MEDIUM, "data-store": Severity.CRITICAL}


def _config(rule: Rule, configured: Mapping[str, Any]) -> dict:
    """Policy config as the rule expects it: Struct doubles back to ints for integer settings."""
    cfg = dict(configured or {})
    for key, schema in rule.config_schema.items():
        value = cfg.get(key)
        if schema.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            cfg[key] = int(value)
    return cfg


def _resource_validation(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        manifest = cached_manifest(args.resource_type, args.props, args.name)
        if manifest is None or kind_of(manifest) not in rule.kinds:
            return  # most policies, for most resources: nothing more to do
        violations = rule.run(manifest, _config(rule, args.get_config()))
        if not violations:
            return  # the common case: skip identity and redaction work
        reporter = Reporter(report_violation)
        ref, sensitive = ref_of(manifest, args.urn), sensitive_values(manifest)
        for violation in violations:
            report(rule, violation, ref, reporter, sensitive)
        reporter.finish()
    return validate


def _stack_validation(rule: Rule):
    def validate(args: StackValidationArgs, report_violation) -> None:
        manifests, owners = [], []
        for resource in args.resources:
            manifest = cached_manifest(resource.resource_type, resource.props, resource.name)
            if manifest is not None:
                manifests.append(manifest)
                owners.append(resource)
        reporter = Reporter(report_violation)
        for index, violation in rule.run(manifests, _config(rule, args.get_config())):
            manifest = manifests[index]  # identities and redaction for violators only
            report(rule, violation, ref_of(manifest, owners[index].urn), reporter, sensitive_values(manifest))
        reporter.finish()
    return validate


def policy_for(rule: Rule):
    common = dict(
        name=rule.name,
        description=rule.description,
        enforcement_level=_LEVELS[rule.level],
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
    request_memo.install()  # the SDK's per-policy property conversion, once per call instead
    return [policy_for(rule) for rule in catalog.rules()] + waiver_policies.policies()
