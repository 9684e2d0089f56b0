"""The waiver markers a component writes on a resource it deliberately makes non-compliant.

Contract (docs/architecture.md, "Waiver markers on resources"): annotation
`stateless-pack.io/waivers: "<id>[,<id>...]"` names the registry waivers the resource relies on, and
for each rule a waiver covers, `checkov.io/skip<n>: CKV_STL_<k>=<waiver id>` so that Checkov honours
it too. The pack and the gate then check that the registry really backs every marker.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from stateless_pack.components.validation import ComponentArgumentError, waiver_id as valid_waiver_id
from stateless_pack.policies.catalog import rule_by_name
from stateless_pack.policies.waivers.model import WAIVER_MARKER
_BUILTIN_CHECKOV_PREFIXES = ("CKV_K8S_", "CKV2_K8S_")


def checkov_id(rule: str) -> str:
    """CKV id of one of our rules (by name) or a built-in Checkov id passed through unchanged."""
    if rule.startswith(_BUILTIN_CHECKOV_PREFIXES):
        return rule
    try:
        return rule_by_name(rule).checkov_id
    except KeyError:
        raise ComponentArgumentError(f"rule {rule!r} is not in the stateless-pack rule catalog") from None


def waiver_annotations(waivers: Mapping[str, Iterable[str]]) -> dict:
    """{waiver id: rules it covers here} -> the annotations to merge into `metadata.annotations`.

    Empty input gives no annotations, so compliant resources carry no marker at all.
    """
    annotations: dict = {}
    ids: list = []
    n = 0
    for wid, rules in waivers.items():
        valid_waiver_id(wid, "waiver id")
        ids.append(wid)
        for rule in dict.fromkeys(rules):  # de-duplicated, order kept: stable annotation keys
            n += 1
            annotations[f"checkov.io/skip{n}"] = f"{checkov_id(rule)}={wid}"
    if ids:
        annotations[WAIVER_MARKER] = ",".join(ids)
    return annotations


def merge_waivers(*parts: Mapping[str, Iterable[str]]) -> dict:
    """Union of several {waiver id: rules} maps (one resource can rely on several waivers)."""
    merged: dict = {}
    for part in parts:
        for wid, rules in part.items():
            merged.setdefault(wid, [])
            merged[wid] += [r for r in rules if r not in merged[wid]]
    return merged
