"""One Checkov check class per resource rule of the catalog, built on the rule functions themselves.

Checkov executes this file (as a top-level module) when it is given
`--external-checks-dir <this folder>`. Each resource rule (`rule.stack` False) becomes its
own `BaseK8Check` subclass with id `rule.checkov_id`; its verdict is `rule.run(manifest)`, so no
rule logic lives here. Checkov picks a check by the resource's kind: a rule that judges pod templates
is registered for every kind (`*`) and answers UNKNOWN (no record) for what is no workload, so that
an Argo Rollout or a kind nobody listed is judged by Checkov as by the other engines.

The rules run with the settings the gate passes in `STATELESS_PACK_RULE_SETTINGS` (the policy
configuration's properties; unset, each rule's defaults). One more check, `CKV_STL_0`, passes on
every resource Checkov evaluates, so that the gate can tell a resource Checkov dropped (no record at
all) from one no check applies to.

Stack rules (`min-replicas`, `pdb-coverage`, ...: any rule with `stack=True`) need several resources
at once, which a Checkov resource check never sees; they run in our adapter instead (the
`stateless-pack scan` / `preview` commands), not in Checkov.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check



def _import_catalog():
    """The rule catalog. Checkov runs from its own environment, where stateless-pack is not
    installed: load `stateless_pack.policies` from the folder around this file instead of putting
    the gate's whole site-packages (Pulumi, a newer `packaging`) on Checkov's path."""
    try:
        from stateless_pack.policies.catalog import rules
        return rules
    except ImportError:
        pass
    policies_dir = Path(__file__).resolve().parents[1]
    root = types.ModuleType("stateless_pack")
    root.__path__ = []  # a namespace: only `policies` below it is ever loaded here
    sys.modules.setdefault("stateless_pack", root)
    spec = importlib.util.spec_from_file_location(
        "stateless_pack.policies", policies_dir / "__init__.py", submodule_search_locations=[str(policies_dir)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["stateless_pack.policies"] = package
    spec.loader.exec_module(package)
    from stateless_pack.policies.catalog import rules
    return rules


rules = _import_catalog()
from stateless_pack.policies.checkov_checks import PROBE_ID, SETTINGS_VARIABLE  # noqa: E402 - after the catalog
from stateless_pack.policies.manifest import POD_TEMPLATES  # noqa: E402 - after the catalog

_SETTINGS = json.loads(os.environ.get(SETTINGS_VARIABLE) or "{}")

# Keys Checkov's YAML loader adds to every mapping; they are not part of the manifest.
_LINE_KEYS = frozenset({"__startline__", "__endline__"})

_CATEGORIES = {
    "sessions": CheckCategories.KUBERNETES,
    "storage": CheckCategories.KUBERNETES,
    "resilience": CheckCategories.KUBERNETES,
    "data-store": CheckCategories.GENERAL_SECURITY,
}


def manifest_from_checkov(value: Any) -> Any:
    """The manifest as `kubectl get -o yaml` would print it, from the `conf` Checkov passes.

    Checkov adds line markers to every mapping and, while collecting skip annotations, rewrites
    `metadata.annotations` into a list of one-key mappings; rules expect neither.
    """
    if isinstance(value, dict):
        out = {k: manifest_from_checkov(v) for k, v in value.items() if k not in _LINE_KEYS}
        metadata = out.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), list):
            merged: dict = {}
            for part in metadata["annotations"]:
                if isinstance(part, dict):
                    merged.update(part)
            metadata["annotations"] = merged
        return out
    if isinstance(value, list):
        return [manifest_from_checkov(v) for v in value]
    return value


class _RuleCheck(BaseK8Check):
    """A Checkov check whose verdict is one catalog rule (set by the subclass)."""

    rule = None  # the catalog Rule; each generated subclass sets its own

    def __init__(self) -> None:
        rule = self.rule
        super().__init__(
            name=rule.description,
            id=rule.checkov_id,
            categories=(_CATEGORIES.get(rule.category, CheckCategories.KUBERNETES),),
            supported_entities=supported_entities(rule),
            guideline=rule.remediation,  # Checkov prints it as the fix ("Guide:")
        )

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        manifest = manifest_from_checkov(conf)
        if not self.rule.judges(manifest):
            return CheckResult.UNKNOWN  # not a kind the rule looks at: Checkov records no verdict
        violations = self.rule.run(manifest, _SETTINGS.get(self.rule.name))
        # The offending fields show up in Checkov's output as the evaluated keys.
        self.evaluated_keys = [v.path for v in violations]
        return CheckResult.FAILED if violations else CheckResult.PASSED


def supported_entities(rule) -> list:
    """The kinds Checkov hands the check: every kind for a rule that judges pod templates (a custom
    kind's template counts too; the rule itself tells a workload by its shape), else the rule's kinds."""
    return ["*"] if POD_TEMPLATES in rule.kinds else sorted(rule.kinds)


def _class_name(rule_name: str) -> str:
    return "".join(part.capitalize() for part in rule_name.split("-")) + "Check"


# One class per resource rule, each instantiated once: instantiating registers it with Checkov.
CHECKS = []
for _rule in rules():
    if _rule.stack:
        continue
    _cls = type(_class_name(_rule.name), (_RuleCheck,), {"rule": _rule, "__module__": __name__})
    globals()[_cls.__name__] = _cls
    CHECKS.append(_cls())


class EvaluatedProbe(BaseK8Check):
    """Passes on every resource of every kind: its record says that Checkov evaluated the resource."""

    def __init__(self) -> None:
        super().__init__(name="stateless-pack: Checkov evaluated this resource", id=PROBE_ID,
                         categories=(CheckCategories.KUBERNETES,), supported_entities=["*"])

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        return CheckResult.PASSED


PROBE = EvaluatedProbe()
