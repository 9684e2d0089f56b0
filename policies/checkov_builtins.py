"""The pinned Checkov's built-in Kubernetes checks: their ids and names (`checkov_builtin_checks.json`).

Read from the file shipped with the distribution, so that a waiver, a policy configuration or a
report can name a built-in check without running Checkov.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

_FILE = "checkov_builtin_checks.json"


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(resources.files("stateless_pack.policies").joinpath(_FILE).read_text(encoding="utf-8"))


def builtin_checks() -> Mapping[str, str]:
    """{check id: check name} of every Kubernetes check of the pinned Checkov."""
    return _data()["checks"]


def checkov_version() -> str:
    """The Checkov version the ids were read from."""
    return str(_data()["checkov"])
