"""The rule catalog: every rule module in `policies/rules/` that defines `RULE`, in Checkov id order.

Adding a rule is adding one file to `policies/rules/` (helper modules define no `RULE`). The pack,
the Checkov checks, the gate and the docs all take their rules from here.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from stateless_pack.policies import rules as rules_package
from stateless_pack.policies.rule import ADVISORY, MANDATORY, Rule, Violation

__all__ = ["ADVISORY", "MANDATORY", "Rule", "Violation", "rules", "rule_by_name"]


@lru_cache(maxsize=1)
def _catalog() -> tuple:
    found = []
    for module in pkgutil.iter_modules(rules_package.__path__):
        loaded = importlib.import_module(f"{rules_package.__name__}.{module.name}")
        rule = getattr(loaded, "RULE", None)
        if isinstance(rule, Rule):
            found.append(rule)
    found.sort(key=lambda r: int(r.checkov_id.rsplit("_", 1)[1]))
    for kind, key in (("name", lambda r: r.name), ("Checkov id", lambda r: r.checkov_id)):
        seen = [key(r) for r in found]
        duplicates = sorted({k for k in seen if seen.count(k) > 1})
        if duplicates:
            raise RuntimeError(f"two rules share a {kind}: {', '.join(duplicates)}")
    return tuple(found)


def rules() -> list[Rule]:
    """All rules, ordered by Checkov id number."""
    return list(_catalog())


def rule_by_name(name: str) -> Rule:
    """The rule with this name or CKV_STL id; KeyError if there is none."""
    for r in _catalog():
        if name in r.ids:
            return r
    raise KeyError(f"unknown rule {name!r}")
