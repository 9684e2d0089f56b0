"""Write the Kubernetes manifests of a program's resources, one YAML file each, secrets redacted.

The folder is what Checkov scans and what reports point at, so it must hold exactly this run's
manifests: a folder the gate rendered before (it carries a marker file) is emptied first; any other
non-empty folder is refused rather than mixed with (or deleted from).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

from stateless_pack.policies.crossguard.manifests import manifest_from
from stateless_pack.policies.redaction import REDACTED
from stateless_pack.gate.program import RegisteredResource, redact, reveal

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built in: same text, ~10x faster
MARKER = ".stateless-pack-rendered"
DEFAULT_OUT = Path("out/manifests")
_TOP_ORDER = ("apiVersion", "kind", "metadata")


class RenderError(Exception):
    """The output folder cannot be used."""


@dataclass(frozen=True)
class Rendered:
    resource: RegisteredResource
    manifest: dict        # with `Secret` wrappers: reveal() for rules, redacted() for output
    file: Path | None     # None until written

    @property
    def ref(self) -> str:
        """Kind/namespace/name, as findings name resources."""
        meta = self.manifest.get("metadata") if isinstance(self.manifest.get("metadata"), dict) else {}
        namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) and meta.get("namespace") else "default"
        return f"{self.manifest.get('kind')}/{namespace}/{meta.get('name')}"

    def revealed(self) -> dict:
        return reveal(self.manifest)

    def redacted(self) -> dict:
        return redacted_manifest(self.manifest)


def manifest_of(resource: RegisteredResource) -> dict | None:
    """The manifest of a Kubernetes resource; None for components, providers and other packages."""
    if not resource.custom:
        return None
    return manifest_from(resource.type, resource.inputs, resource.name)


def manifests(resources: Iterable[RegisteredResource]) -> list[Rendered]:
    out = []
    for resource in resources:
        manifest = manifest_of(resource)
        if manifest is not None:
            out.append(Rendered(resource, manifest, None))
    return out


def redacted_manifest(manifest: dict) -> dict:
    """Pulumi secrets -> REDACTED; a Secret's data/stringData values always, keys kept."""
    out = redact(manifest, REDACTED)
    if out.get("kind") == "Secret":
        for field in ("data", "stringData"):
            value = reveal(manifest.get(field))  # the keys are not secret (kubectl shows them)
            if isinstance(value, dict):
                out[field] = {k: REDACTED for k in value}
            elif value is not None:
                out[field] = REDACTED
    ordered = {k: out[k] for k in _TOP_ORDER if k in out}
    ordered.update((k, v) for k, v in out.items() if k not in ordered)
    return ordered


def _file_name(manifest: dict, taken: set) -> str:
    meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    parts = [str(manifest.get("kind") or "Unknown"), str(meta.get("namespace") or "default"),
             str(meta.get("name") or "unnamed")]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts)).lower()
    name, n = f"{stem}.yaml", 2
    while name in taken:  # two Pulumi resources may render the same object
        name, n = f"{stem}-{n}.yaml", n + 1
    taken.add(name)
    return name


def prepare_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RenderError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise RenderError(f"{out} is not empty and was not rendered by stateless-pack: "
                              "choose another --out folder")
        for old in out.glob("*.yaml"):
            old.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("rendered by `stateless-pack preview`; emptied on every run\n",
                              encoding="utf-8")


def render(items: Iterable[Rendered], out: str | Path = DEFAULT_OUT) -> list[Rendered]:
    """Write each manifest (redacted) to `out`; returns the items with their files."""
    out = Path(out)
    prepare_folder(out)
    taken: set = set()
    written = []
    for item in items:
        path = out / _file_name(item.manifest, taken)
        text = yaml.dump(item.redacted(), Dumper=_DUMPER, sort_keys=False, default_flow_style=False,
                         allow_unicode=True)
        path.write_text(text, encoding="utf-8")
        written.append(Rendered(item.resource, item.manifest, path))
    return written
