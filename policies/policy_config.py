"""The one policy configuration of every engine: the JSON file `pulumi preview --policy-pack-config` reads.

Its format is Pulumi's: per policy an enforcement level (`"advisory"`) or an object with
`enforcementLevel` and the policy's properties (`{"enforcementLevel": "mandatory", "minReplicas": 3}`),
and `all` for the level of every policy. The pack reads the file through the Pulumi engine; the gate
(`preview` and `scan`) reads the same file here, so both engines report every finding at one level.
The gate also takes from it the levels of Checkov's built-in checks, by id (`"CKV_K8S_43": "advisory"`)
or as the group `checkov-builtins`, and of its own `not-checked-by-checkov` check; the Pulumi engine
ignores those names. Precedence for a Checkov check: its id, then `checkov-builtins`, then `all`.

Levels: `mandatory` (and `remediate`) block, `advisory` reports without blocking, `disabled` is not
reported at all. Anything the file gets wrong (bad JSON, a repeated key, an unknown policy or Checkov
id, an unknown level, a property the policy does not have or a value its schema refuses) is a
`PolicyConfigError`, never ignored. No Pulumi imports: the gate and the pack's tools share this module.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

from stateless_pack.policies import safe_files
from stateless_pack.policies.catalog import rules
from stateless_pack.policies.checkov_builtins import builtin_checks, checkov_version
from stateless_pack.policies.rule import ADVISORY, MANDATORY
from stateless_pack.policies.waivers import wording

REMEDIATE, DISABLED = "remediate", "disabled"
LEVELS = (MANDATORY, ADVISORY, REMEDIATE, DISABLED)
BLOCKING_LEVELS = frozenset({MANDATORY, REMEDIATE})
ALL = "all"
CHECKOV_BUILTINS = "checkov-builtins"          # the group of every built-in Checkov check
NOT_CHECKED_BY_CHECKOV = "not-checked-by-checkov"  # the gate's own check (gate/gate_checks.py)
OUR_CHECKOV_PREFIX = "CKV_STL_"
PRESETS = {  # shipped in policies/presets/<name>.json (docs/configuration.md)
    "everything-blocking": "every policy and every Checkov check blocks, stale waivers too",
    "statelessness-only": "our rules and the waiver policies block; Checkov's built-in checks and "
                          "not-checked-by-checkov only warn (for adopting the gate on existing charts)",
}


class PolicyConfigError(ValueError):
    """The policy configuration cannot be used: the message says where and why."""


@lru_cache(maxsize=1)
def pack_policy_levels() -> Mapping[str, str]:
    """The default level of every policy of our pack: the catalog's rules and the waiver policies."""
    return {**{r.name: r.level for r in rules()}, **wording.DEFAULT_LEVELS}


def gate_check_levels() -> Mapping[str, str]:
    """The default level of the gate's own configurable checks (the pack has none of them)."""
    return {NOT_CHECKED_BY_CHECKOV: MANDATORY}


@lru_cache(maxsize=1)
def _rules_by_checkov_id() -> Mapping[str, str]:
    return {r.checkov_id: r.name for r in rules()}


@dataclass(frozen=True)
class PolicyConfig:
    """A validated configuration; `PolicyConfig()` is the default (every policy at its own level,
    every Checkov check mandatory)."""

    entries: Mapping[str, Any] = field(default_factory=dict)  # as written: a level or an object
    source: str = "(defaults)"

    # -- reading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "PolicyConfig":
        """The file at `path`, validated."""
        try:
            text = safe_files.read_text(path)
        except FileNotFoundError:
            raise PolicyConfigError(f"{path}: no such file") from None
        except safe_files.UnreadableFile as err:
            raise PolicyConfigError(f"{path}: {err}") from None
        except OSError as err:
            raise PolicyConfigError(f"{path}: cannot read: {err.strerror or err}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def preset(cls, name: str) -> "PolicyConfig":
        """A preset shipped with the distribution (see `PRESETS` and docs/configuration.md)."""
        if name not in PRESETS:
            raise PolicyConfigError(f"no preset {name!r} (presets: {', '.join(PRESETS)})")
        return cls.parse(preset_text(name), source=f"preset {name}")

    @classmethod
    def parse(cls, text: str, *, source: str = "(text)") -> "PolicyConfig":
        try:
            data = json.loads(text, object_pairs_hook=_no_repeated_keys)
        except ValueError as err:
            raise PolicyConfigError(f"{source}: not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise PolicyConfigError(f"{source}: must be a JSON object of policy names, "
                                    f"got {type(data).__name__}")
        problems = [p for key, value in data.items() for p in _problems(key, value)]
        if problems:
            raise PolicyConfigError(f"{source}: " + "; ".join(problems))
        return cls(entries=dict(data), source=source)

    # -- answering -------------------------------------------------------------------------------
    def level(self, name: str) -> str:
        """The level of our policy `name` (a rule, a waiver policy or a gate check)."""
        default = pack_policy_levels().get(name) or gate_check_levels().get(name)
        if default is None:
            raise KeyError(f"no policy named {name!r}")
        return self._explicit(name) or self._explicit(ALL) or default

    def checkov_level(self, check_id: str) -> str:
        """The level of a Checkov check: ours follow their rule, built-ins their id, the group, `all`."""
        ours = _rules_by_checkov_id()
        if check_id in ours:
            return self.level(ours[check_id])
        return (self._explicit(check_id) or self._explicit(CHECKOV_BUILTINS) or self._explicit(ALL)
                or MANDATORY)

    def settings(self, rule_name: str) -> dict:
        """The properties configured for a rule (its schema defaults are the rule's own business)."""
        value = self.entries.get(rule_name)
        return {k: v for k, v in value.items() if k != "enforcementLevel"} if isinstance(value, dict) else {}

    def rule_settings(self) -> dict[str, dict]:
        """{rule name: properties} for every rule with configured properties (for Checkov's run)."""
        return {r.name: self.settings(r.name) for r in rules() if self.settings(r.name)}

    def pack_overrides(self) -> dict:
        """What the pack gets (`Configure`): the entries of its policies and `all`, as written."""
        names = set(pack_policy_levels()) | {ALL}
        return {k: v for k, v in self.entries.items() if k in names}

    def _explicit(self, name: str) -> str | None:
        value = self.entries.get(name)
        return value.get("enforcementLevel") if isinstance(value, dict) else value


def preset_text(name: str) -> str:
    """The JSON text of a shipped preset."""
    return resources.files("stateless_pack.policies").joinpath("presets", f"{name}.json").read_text(encoding="utf-8")


def check_properties(policy: str, schema: Mapping[str, Any], properties: Mapping[str, Any],
                     required: tuple = ()) -> list[str]:
    """What is wrong with `properties` of `policy` against its config schema (JSON schema properties)."""
    unknown = sorted(set(properties) - set(schema))
    if unknown:
        return [f"{policy}: unknown config propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                f"(known: {', '.join(sorted(schema)) or 'none'})"]
    full = {"type": "object", "properties": dict(schema), **({"required": list(required)} if required else {})}
    errors = sorted(jsonschema.Draft7Validator(full).iter_errors(dict(properties)), key=lambda e: list(e.path))
    return [f"{policy}: invalid config: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors]


def _no_repeated_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"key {', '.join(map(repr, repeated))} given twice")
    return dict(pairs)


def _problems(key: str, value: Any) -> list[str]:
    """What is wrong with one entry of the file (nothing: an empty list)."""
    known = _known_problem(key)
    if known:
        return [known]
    if isinstance(value, str):
        level, properties = value, {}
    elif isinstance(value, dict):
        properties = {k: v for k, v in value.items() if k != "enforcementLevel"}
        level = value.get("enforcementLevel")
    else:
        return [f"{key}: must be an enforcement level ({', '.join(LEVELS)}) or an object, got {value!r}"]
    problems = []
    if level is not None and level not in LEVELS:
        problems.append(f"{key}: enforcement level {level!r} is not one of {', '.join(LEVELS)}")
    rule = next((r for r in rules() if r.name == key), None)
    if rule is not None:
        problems += check_properties(key, rule.config_schema, properties)
    elif properties:
        problems.append(f"{key}: has no properties, only an enforcementLevel (got {', '.join(sorted(properties))})")
    return problems


def _known_problem(key: str) -> str:
    """Why `key` names nothing this configuration can set ("" when it does)."""
    if key in pack_policy_levels() or key in gate_check_levels() or key in (ALL, CHECKOV_BUILTINS):
        return ""
    if key.startswith(OUR_CHECKOV_PREFIX):
        ours = _rules_by_checkov_id()
        if key in ours:
            return f"{key}: set our rule by its policy name, {ours[key]!r} (the pack knows no {key})"
        return f"{key}: no rule of ours has this Checkov id"
    if key.startswith(("CKV_", "CKV2_")):
        if key in builtin_checks():
            return ""
        return f"{key}: Checkov {checkov_version()} has no Kubernetes check {key}"
    return (f"no policy named {key!r} (policies: {', '.join(sorted(pack_policy_levels()))}; "
            f"also {ALL}, {CHECKOV_BUILTINS}, {NOT_CHECKED_BY_CHECKOV} and Checkov check ids)")
