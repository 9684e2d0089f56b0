"""Where a stack's waiver registry and a pack's approvers come from.

Waivers belong to the stack, approvers to the pack:

- The registry is the Pulumi project's. In this order: an explicit file (the gate's `--waivers`),
  the environment variable `STATELESS_PACK_WAIVERS`, the stack config key `stateless-pack:waivers`
  (a path relative to the project folder, or the registry itself as a structured value), else
  `waivers.yaml` in the project folder. The pack under the real Pulumi CLI runs in its own folder
  and does not know the project folder: it reads the environment variable (an absolute path) or
  the structured config value; a relative path there is a problem, not a silent empty registry.
- Approvers are the pack folder's `approvers.yaml` if it has one, else the file shipped with the
  distribution. Nothing a stack controls (its config, its folder) changes them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from stateless_pack.policies.waivers.loading import (
    DEFAULT_APPROVERS_NAME, empty_registry, load_approvers, read_yaml, registry_from_document,
    shipped_approvers,
)
from stateless_pack.policies.waivers.model import Problem, Registry, WaiverRegistryError

REGISTRY_ENV = "STATELESS_PACK_WAIVERS"
REGISTRY_CONFIG_KEY = "stateless-pack:waivers"
DEFAULT_REGISTRY_NAME = "waivers.yaml"


@dataclass(frozen=True)
class RegistryLocation:
    """Where the registry is: a file, a document from stack config, nothing, or a problem."""
    source: str                 # how it was found, as messages name it
    path: Path | None = None
    document: Any = None        # the registry itself (structured stack config)
    required: bool = True       # explicitly configured: a missing file is a problem
    problem: str = ""           # it cannot be located at all


def _config_value(config: Mapping[str, Any]) -> Any:
    value = config.get(REGISTRY_CONFIG_KEY)
    if isinstance(value, str):  # Pulumi hands structured config over as JSON text
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, (Mapping, list)) else value
    return value


def locate_registry(*, project_dir: Path | None, config: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None, explicit: str | None = None) -> RegistryLocation:
    """The registry of a stack. `project_dir` None: the caller (the pack) does not know it."""
    env = os.environ if environ is None else environ
    if explicit:
        return RegistryLocation(source=explicit, path=Path(explicit).expanduser())
    if env.get(REGISTRY_ENV):
        path = Path(env[REGISTRY_ENV]).expanduser()
        if path.is_absolute() or project_dir is not None:
            path = path if path.is_absolute() else project_dir / path
            return RegistryLocation(source=str(path), path=path)
        return RegistryLocation(source=f"${REGISTRY_ENV}", problem=(
            f"${REGISTRY_ENV} is the relative path {str(path)!r}, but the policy pack runs in its own "
            "folder: give an absolute path"))
    value = _config_value(config or {})
    if isinstance(value, (Mapping, list)):
        return RegistryLocation(source=f"stack config {REGISTRY_CONFIG_KEY}", document=value)
    if isinstance(value, str) and value.strip():
        path = Path(value).expanduser()
        if path.is_absolute() or project_dir is not None:
            path = path if path.is_absolute() else project_dir / path
            return RegistryLocation(source=str(path), path=path)
        return RegistryLocation(source=f"stack config {REGISTRY_CONFIG_KEY}", problem=(
            f"stack config {REGISTRY_CONFIG_KEY} is the relative path {value!r}, which only the project "
            f"folder resolves; the policy pack runs in its own folder: set ${REGISTRY_ENV} to the "
            "registry's absolute path, or put the registry itself in the stack config"))
    if value is not None:
        return RegistryLocation(source=f"stack config {REGISTRY_CONFIG_KEY}", problem=(
            f"stack config {REGISTRY_CONFIG_KEY} must be a path or the registry itself, got {value!r}"))
    if project_dir is not None:
        return RegistryLocation(source=str(project_dir / DEFAULT_REGISTRY_NAME),
                                path=project_dir / DEFAULT_REGISTRY_NAME, required=False)
    return RegistryLocation(source="(no registry configured)", required=False)


def approvers_path(pack_dir: str | os.PathLike | None) -> Path:
    """The pack folder's own approvers file, else the one shipped with the distribution. Whatever
    the pack folder holds under that name (a FIFO, a device, a broken link) is its approvers file:
    reading it fails, and no waiver applies, rather than the shipped approvers taking its place."""
    if pack_dir is not None:
        own = Path(pack_dir) / DEFAULT_APPROVERS_NAME
        if os.path.lexists(own):
            return own
    return shipped_approvers()


def load_located(location: RegistryLocation, approvers_file: str | os.PathLike, today: date
                 ) -> tuple[Registry | None, list]:
    """(registry, []) or (None, problems): the engines' entry point. None means no waiver applies.

    Nothing configured and no `waivers.yaml`: an empty registry (every violation still blocks).
    """
    if location.problem:
        return None, [Problem(location.source, "", "", location.problem)]
    if location.document is None and (location.path is None
                                      or (not location.required and not location.path.exists())):
        return empty_registry(location.source), []
    try:
        approvers = load_approvers(approvers_file)
        document = location.document if location.document is not None else read_yaml(location.path)
        return registry_from_document(document, location.source, approvers, today=today), []
    except WaiverRegistryError as exc:
        return None, exc.problems
