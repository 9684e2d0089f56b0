"""The configured level of every finding, set in one pass: what `preview` and `scan` report and block on.

Our rules, the waiver policies and the gate's own checks take the level the policy configuration
gives their name (the pack gets the same file, so it reports them at the same level); Checkov's
built-in checks take the level of their id, of `checkov-builtins` or of `all`. A `disabled` finding
is not reported at all. Findings of no configurable policy (a file the gate cannot read, a custom
pack's own policies) keep their level: the configuration cannot switch them off.
"""
from __future__ import annotations

from dataclasses import replace

from stateless_pack.gate.findings import Finding
from stateless_pack.policies.policy_config import DISABLED, PolicyConfig, gate_check_levels, pack_policy_levels

POLICY_CONFIG_HELP = ("policy configuration, the JSON `pulumi preview --policy-pack-config` reads: levels "
                      "(mandatory, advisory, disabled) of our policies, of Checkov checks by id or all of "
                      "them as checkov-builtins, and rule settings (default: every rule and Checkov check "
                      "blocks; presets: `stateless-pack config show statelessness-only`)")


def load_policy_config(path: str | None) -> PolicyConfig:
    """The `--policy-pack-config` file (PolicyConfigError if it is unusable), or the defaults."""
    return PolicyConfig.load(path) if path else PolicyConfig()


def configured_level(finding: Finding, config: PolicyConfig) -> str:
    if finding.rule in pack_policy_levels() or finding.rule in gate_check_levels():
        return config.level(finding.rule)
    if finding.engine == "checkov" and finding.checkov_id:
        return config.checkov_level(finding.checkov_id)
    return finding.level


def apply_levels(findings: list[Finding], config: PolicyConfig) -> list[Finding]:
    """`findings` at their configured levels, without the disabled ones."""
    leveled = [replace(f, level=configured_level(f, config)) for f in findings]
    return [f for f in leveled if f.level != DISABLED]
