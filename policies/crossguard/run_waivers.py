"""The waiver pass of one pack process (one process per `pulumi preview`/`up`).

Located like every engine locates a stack's registry (`policies/waivers/locating.py`): the pack
knows its own folder but not the project's, so it reads `STATELESS_PACK_WAIVERS` (absolute) or the
registry given in stack config (`PULUMI_CONFIG`). Approvers come from the pack folder. The wall
clock is read here, once, in UTC.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.locating import approvers_path, load_located, locate_registry
from stateless_pack.policies.waivers.model import ResourceRef, utc_today

_pack_dir: Path | None = None
_state: WaiverPass | None = None


def set_pack_dir(pack_dir: str | os.PathLike | None) -> None:
    """The folder the pack runs from: where its own approvers file may be."""
    global _pack_dir, _state
    _pack_dir, _state = (Path(pack_dir) if pack_dir is not None else None), None


def _stack_config() -> dict:
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def run_waivers() -> WaiverPass:
    """Loaded on first use, then the same for the whole process."""
    global _state
    if _state is None:
        today = utc_today()
        location = locate_registry(project_dir=None, config=_stack_config())
        registry, problems = load_located(location, approvers_path(_pack_dir), today)
        _state = WaiverPass(registry, problems, today, stack=os.environ.get("PULUMI_STACK", ""))
    return _state


def ref_of(manifest, urn: str = "") -> ResourceRef:
    """Who a violation is about, as waivers and messages see it."""
    return ResourceRef.of_manifest(manifest, stack=os.environ.get("PULUMI_STACK", ""), urn=urn)
