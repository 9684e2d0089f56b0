"""A rule's settings as the engine configured them (`pulumi preview --policy-pack-config`), and
our levels as the SDK's.

Struct carries numbers as doubles: integer settings come back as ints. The pack's own waiver
checks rerun rules (`waiver_policies.stale-waiver`) and need those rules' settings, not their own:
`configured` reads them from the servicer handling the current call (`request_memo`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel

from stateless_pack.policies.crossguard import request_memo
from stateless_pack.policies.rule import ADVISORY, MANDATORY, Rule

# Our levels as the SDK's (a policy's default; the engine's configuration may change it).
SDK_LEVELS = {MANDATORY: EnforcementLevel.MANDATORY, ADVISORY: EnforcementLevel.ADVISORY}


def rule_settings(rule: Rule, configured: Mapping[str, Any] | None) -> dict:
    """`configured` as the rule expects it: integer settings as ints."""
    settings = dict(configured or {})
    for key, schema in rule.config_schema.items():
        value = settings.get(key)
        if schema.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            settings[key] = int(value)
    return settings


def configured(rule: Rule) -> dict:
    """The settings the engine configured for `rule`'s policy, seen from any policy of this call
    (outside a call, or if the SDK has no such lookup: the rule's defaults)."""
    servicer = request_memo.current_servicer()
    lookup = getattr(servicer, "_get_policy_config", None)
    return rule_settings(rule, lookup(rule.name) if lookup is not None else None)
