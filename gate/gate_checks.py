"""The gate's own checks (not rules of the catalog): their names, what they mean and how to fix them.

- `manifest-file`: a file or folder `scan` cannot check (YAML error, not a manifest, unreadable, no
  resources, ...). Always reported; not configurable (a file nobody could check never passes).
- `no-kubernetes-resources`: `preview` of a program that registered no Kubernetes object the gate could
  check (nothing at all, or only resources of other packages): nothing was checked, so nothing passed.
  Blocks unless `--allow-empty` makes it advisory.
- `not-checked-by-checkov`: a resource Checkov did not evaluate. Checkov silently drops a manifest
  with a `name` field (at any depth) that is not a string, is longer than 253 characters or contains
  `#`, `{` or `}`, and one without `metadata.name` and labels; our rules still check it, Checkov's
  built-in checks do not. Its level comes from the policy configuration (default mandatory).
"""
from __future__ import annotations

from dataclasses import dataclass

from stateless_pack.policies.policy_config import NOT_CHECKED_BY_CHECKOV

MANIFEST_FILE = "manifest-file"
EMPTY_STACK_CHECK = "no-kubernetes-resources"


@dataclass(frozen=True)
class GateCheck:
    name: str
    description: str
    fix: str


NOT_CHECKED = GateCheck(
    NOT_CHECKED_BY_CHECKOV,
    "Every resource must be evaluated by Checkov. Checkov silently drops a manifest with a `name` field "
    "(at any depth) that is not a string, is longer than 253 characters or contains `#`, `{` or `}`, and "
    "one with neither `metadata.name` nor labels (`generateName` only); our rules still check such a "
    "resource, Checkov's built-in checks do not.",
    "Give the resource a literal metadata.name and plain string names everywhere (render templates "
    "before scanning), or set not-checked-by-checkov to advisory in the policy configuration.")
MANIFEST = GateCheck(
    MANIFEST_FILE,
    "Every file and folder given to `scan` must be readable Kubernetes YAML with at least one resource: "
    "a file that does not parse, is not a manifest, cannot be read or holds no resources is reported, "
    "never skipped.",
    "Fix the file as the finding says, or leave it out of the scanned paths.")
EMPTY_STACK = GateCheck(
    EMPTY_STACK_CHECK,
    "A program given to `preview` must register at least one Kubernetes object the gate checks: a program "
    "that registers nothing (or only resources of other packages) ends with nothing checked, and that is "
    "not a pass.",
    "Check that the program registers its Kubernetes objects (and that PROGRAM_DIR is the right folder), or "
    "pass --allow-empty if a stack without Kubernetes objects is expected.")
GATE_CHECKS = {check.name: check for check in (MANIFEST, EMPTY_STACK, NOT_CHECKED)}
