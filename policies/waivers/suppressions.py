"""Suppressions written on resources, read the way Checkov reads them.

Two kinds of annotation claim that a registry waiver backs an exception:
- `checkov.io/skip<n>: <check id>=<waiver id>` (any key containing `checkov.io/skip`,
  `bridgecrew.io/skip` or `cortex.io/skip`): Checkov skips that check on the resource;
- `stateless-pack.io/waivers: "W-0001,W-0002"`: the components' marker, the waivers it relies on.

They sit on the resource and on its pod template (Checkov scans a workload's pod as a resource of
its own). Annotations written as a list of one-key mappings are read like Checkov reads them, so a
skip Checkov honours is never invisible here. This module only reads claims; whether the registry
backs them is decided in `policies/waivers/decisions.py`.
"""
from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from stateless_pack.policies.manifest import UNKNOWN, dotted, get, pod_spec_paths
from stateless_pack.policies.waivers.model import SKIP_ANNOTATION_MARKERS, WAIVER_MARKER, is_waiver_id


@dataclass(frozen=True)
class Claim:
    """One suppression: which waiver it names, for which check (None: the marker, any rule)."""
    path: str              # e.g. metadata.annotations["checkov.io/skip1"]
    key: str
    waiver_id: str         # as written; "" when the annotation names none
    rule_id: str | None
    problem: str = ""      # it cannot be backed at all (free text, not text, unknown in preview)
    unknown: bool = False  # its value is unknown during preview


def is_skip_annotation(key: str) -> bool:
    return any(marker in key for marker in SKIP_ANNOTATION_MARKERS)


def annotation_items(annotations: Any) -> list[tuple[str, Any]]:
    """(key, value) pairs as Checkov sees them: a mapping's items, or the items of every mapping in
    a list of mappings (other list items are ignored, as Checkov ignores them)."""
    if isinstance(annotations, Mapping):
        return [(str(k), v) for k, v in annotations.items()]
    if isinstance(annotations, list):
        return [(str(k), v) for part in annotations if isinstance(part, Mapping) for k, v in part.items()]
    return []


def suppression_places(manifest: Any) -> list[tuple[tuple, Any]]:
    """(path, annotations) where suppressions may sit: the resource and its pod templates."""
    places = [(("metadata", "annotations"), get(manifest, "metadata", "annotations"))]
    for path in pod_spec_paths(manifest):
        if len(path) > 1:  # a workload with a template (not a bare Pod)
            template = path[:-1]
            places.append((template + ("metadata", "annotations"),
                           get(manifest, *template, "metadata", "annotations")))
    return [(path, annotations) for path, annotations in places if annotations is not None]


def _value_claims(key: str, value: Any, where: str) -> list[Claim]:
    skip = is_skip_annotation(key)
    if value is UNKNOWN:
        return [Claim(where, key, "", None, f"{key} is unknown during preview: cannot check that a "
                                             "waiver backs it", unknown=True)]
    if not isinstance(value, str):
        return [Claim(where, key, "", None, f"{key} has a non-text value {value!r}")]
    if not skip:  # the marker: every id it lists
        ids = [part.strip() for part in value.split(",")]
        if not any(ids):
            return [Claim(where, key, "", None, f"{key} names no waiver")]
        return [Claim(where, key, wid, None, "" if is_waiver_id(wid) else f"{wid!r} is not a waiver id")
                for wid in ids if wid]
    rule_id, _, comment = value.partition("=")
    rule_id, comment = rule_id.strip(), comment.strip()
    if not is_waiver_id(comment):
        return [Claim(where, key, "", rule_id, f"skip of {rule_id or '?'} names no registered waiver "
                                                f"(text {comment or 'none'!r})")]
    return [Claim(where, key, comment, rule_id)]


def claims(manifest: Any) -> list[Claim]:
    """Every suppression claim in `manifest`, malformed ones included (they cannot be backed)."""
    found: list[Claim] = []
    for path, annotations in suppression_places(manifest):
        if annotations is UNKNOWN:
            found.append(Claim(dotted(path), "", "", None, "annotations are unknown during preview: "
                                                           "suppressions cannot be checked", unknown=True))
            continue
        for key, value in annotation_items(annotations):
            if is_skip_annotation(key) or key == WAIVER_MARKER:
                found.extend(_value_claims(key, value, dotted(path + (key,))))
    return found


def without_skips(manifest: Any) -> Any:
    """A copy of `manifest` without the annotations Checkov reads as skips (in every place and form).

    What Checkov gets: it then evaluates every check, and the waiver pass alone decides what a
    waiver covers. (Checkov would also crash on a skip whose comment contains `=`.)"""
    if not isinstance(manifest, Mapping):
        return manifest
    copy = deepcopy(dict(manifest))
    for path, annotations in suppression_places(copy):
        owner = get(copy, *path[:-1])
        if isinstance(annotations, Mapping):
            owner[path[-1]] = {k: v for k, v in annotations.items() if not is_skip_annotation(str(k))}
        elif isinstance(annotations, list):
            owner[path[-1]] = [{k: v for k, v in part.items() if not is_skip_annotation(str(k))}
                               if isinstance(part, Mapping) else part for part in annotations]
    return copy


def named_waiver_ids(manifest: Any) -> set:
    """Waiver ids the suppressions in `manifest` name (they count as used, not stale)."""
    return {c.waiver_id for c in claims(manifest) if c.waiver_id}
