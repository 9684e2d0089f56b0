"""`stateless-pack explain NAME`: what a rule, waiver policy, gate check or Checkov check means.

The full description, how to fix it, its level (default, or from `--policy-pack-config`) and its
settings; the same text as docs/policies.md and SARIF's rule metadata, where findings only say what
is wrong on one resource.
"""
from __future__ import annotations

import argparse
import difflib
import json
import sys
import textwrap

from stateless_pack.gate.exit_codes import EXIT_CLEAN, EXIT_FAILED
from stateless_pack.gate.gate_checks import GATE_CHECKS, MANIFEST_FILE
from stateless_pack.gate.levels import POLICY_CONFIG_HELP, load_policy_config
from stateless_pack.gate.output.reports import DOCS_URI
from stateless_pack.policies.catalog import rules
from stateless_pack.policies.checkov_builtins import builtin_checks, checkov_version
from stateless_pack.policies.policy_config import PolicyConfig, PolicyConfigError
from stateless_pack.policies.rule import Rule
from stateless_pack.policies.waivers import wording


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="print what a rule or check means, how to fix it, its level and settings",
        description="Explain a rule of the catalog (by name or CKV_STL id), a waiver policy, a check of the "
                    "gate itself or a built-in Checkov check (by id): description, fix, level, settings.")
    p.add_argument("name", metavar="NAME", help="e.g. no-sticky-service, CKV_STL_1, stale-waiver, CKV_K8S_8")
    p.add_argument("--policy-pack-config", metavar="FILE", help=POLICY_CONFIG_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_policy_config(args.policy_pack_config)
    except PolicyConfigError as exc:
        print(f"stateless-pack explain: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    text = explain(args.name, config)
    if text is None:
        known = [r.name for r in rules()] + list(wording.POLICY_NAMES) + list(GATE_CHECKS) + list(builtin_checks())
        close = difflib.get_close_matches(args.name, known, n=3)
        print(f"stateless-pack explain: error: no rule or check named {args.name!r}"
              + (f" (did you mean {', '.join(close)}?)" if close else ""), file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(text)
    return EXIT_CLEAN


def explain(name: str, config: PolicyConfig) -> str | None:
    """The explanation of `name`, or None if nothing is called so."""
    rule = next((r for r in rules() if name in r.ids), None)
    if rule is not None:
        return _rule(rule, config)
    if name in wording.POLICY_NAMES:
        return _page(name, "waiver policy", config.level(name), wording.DESCRIPTIONS[name], wording.FIXES[name])
    if name in GATE_CHECKS:
        level = "mandatory (always)" if name == MANIFEST_FILE else config.level(name)
        return _page(name, "check of the gate", level, GATE_CHECKS[name].description, GATE_CHECKS[name].fix)
    if name in builtin_checks():
        return _page(name, f"Checkov {checkov_version()} built-in check", config.checkov_level(name),
                     builtin_checks()[name], "See Checkov's guideline in the finding; set its level by id "
                     "or for all built-in checks as checkov-builtins in the policy configuration.", docs=False)
    return None


def _rule(rule: Rule, config: PolicyConfig) -> str:
    settings = ["none"] if not rule.config_schema else [
        f"{key} ({schema.get('type', 'any')}, default {json.dumps(schema.get('default'))}"
        f"{', configured ' + json.dumps(config.settings(rule.name)[key]) if key in config.settings(rule.name) else ''})"
        f": {schema.get('description', '')}".rstrip(": ") for key, schema in rule.config_schema.items()]
    extra = [f"Checkov id: {rule.checkov_id}" + (" (stack rule: not run by Checkov)" if rule.stack else ""),
             f"Kinds: {', '.join(sorted(rule.kinds))}",
             f"Waived by: {rule.waiver_approver or 'any approver role'}",
             "Settings: " + "; ".join(settings)]
    return _page(rule.name, f"rule ({rule.category})", config.level(rule.name), rule.description,
                 rule.remediation, extra)


def _page(name: str, what: str, level: str, description: str, fix: str, extra: list | None = None,
          docs: bool = True) -> str:
    wrap = textwrap.TextWrapper(width=100, subsequent_indent="  ")
    lines = [f"{name}: {what}", f"Level: {level}", *(extra or []), "", *wrap.wrap(description), "",
             *wrap.wrap(f"Fix: {fix}")]
    if docs:
        lines += ["", f"More: {DOCS_URI}#{name}"]
    return "\n".join(lines) + "\n"
