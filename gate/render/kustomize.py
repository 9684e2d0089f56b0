"""Building a kustomization with the real `kubectl kustomize`, each resource placed in the file that holds it.

`build()` is `kubectl kustomize DIR`, its output as is (the gate's kustomize resources). `located()`
builds the same folder a second time through a private kustomization that only adds
`buildMetadata: [originAnnotations, transformerAnnotations]` (kustomize v5, kubectl 1.27+), so that
each resource says which file it came from (`config.kubernetes.io/origin`) and which kustomizations
transformed it; those annotations are removed again before any rule sees the resource. A field
points at its line in that file when it has the same value there; a field a patch or a transformer
changed points at the nearest enclosing field that did not change, and at the patch that wrote it
where `gate/render/kustomize_patches.py` can tell. Resources made by a generator
(`configMapGenerator`, ...) point at the kustomization that configures it. kubectl runs as a
child of `gate/processes.py` (process group, deadline, signals); a folder that does not build is a
`KustomizeError` with kubectl's own message.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from stateless_pack.gate import processes
from stateless_pack.gate.render.kustomize_patches import TRANSFORMATIONS, PatchedField, patched_fields
from stateless_pack.gate.render.manifest_files import (
    EMPTY,
    FieldLines,
    LoadedManifest,
    ManifestProblem,
    load_file,
    load_text,
)
from stateless_pack.policies.manifest import get

TIMEOUT_SECONDS = 300.0
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN = "config.kubernetes.io/origin"


class KustomizeError(Exception):
    """kubectl could not build the kustomization: str() is kubectl's own message, trimmed."""


def is_kustomization(folder: str | os.PathLike) -> bool:
    return any(os.path.isfile(os.path.join(folder, name)) for name in KUSTOMIZATION_FILES)


def build(directory: Path, *, kubectl: Path, timeout: float = TIMEOUT_SECONDS, load_restrictions: bool = True,
          enable_helm: bool = False, helm: Path | None = None) -> str:
    """`kubectl kustomize DIRECTORY`: the built resources as YAML; KustomizeError if it fails.
    `load_restrictions=False`: files outside the kustomization's root may be read; `enable_helm`:
    its `helmCharts` are rendered (with `helm`, else the helm on PATH)."""
    options = [] if load_restrictions else ["--load-restrictor", "LoadRestrictionsNone"]
    if enable_helm:
        options += ["--enable-helm", *(["--helm-command", str(helm)] if helm else [])]
    return _kustomize(kubectl, str(directory), timeout, f"build {directory}", options)


@dataclass(frozen=True)
class BuiltResource:
    manifest: dict              # as `build()` prints it (no origin annotation)
    line: int                   # its line in `Built.text`
    lines: FieldLines = field(default_factory=FieldLines, compare=False, repr=False)  # in `Built.text`
    file: str = ""              # the file that holds it ("" when kustomize did not say)
    file_line: int = 0          # where its document starts in `file` (0: cannot be told)
    file_lines: FieldLines = field(default_factory=FieldLines, compare=False, repr=False)
    patched: dict = field(default_factory=dict, compare=False, repr=False)  # path -> PatchedField

    def patch_of(self, path: tuple) -> PatchedField | None:
        """The patch that wrote field `path` or the nearest field around it, if one can be told."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.patched:
                return self.patched[path[:end]]
        return None


@dataclass(frozen=True)
class Built:
    text: str                   # the output with origin annotations
    resources: list[BuiltResource]
    problems: list[ManifestProblem] = field(default_factory=list)


def located(directory: Path, *, kubectl: Path, timeout: float = TIMEOUT_SECONDS) -> Built:
    """The kustomization's resources, each with the file (and line) it came from. File names are
    shown as `directory` is given: relative to the working folder, or absolute."""
    build(directory, kubectl=kubectl, timeout=timeout)  # its errors name the user's own paths
    with processes.private_folder("stateless-pack-kustomize-") as wrapper:
        target = os.path.relpath(os.path.abspath(directory), wrapper)  # kustomize refuses absolute roots
        (wrapper / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [target], "buildMetadata": ["originAnnotations", "transformerAnnotations"]}),
            encoding="utf-8")
        text = _kustomize(kubectl, str(wrapper), timeout, f"build {directory}")
        loaded, problems = load_text(text, "<kubectl kustomize>")
        problems = [p for p in problems if p.kind != EMPTY]  # no documents: the caller decides
        show = (lambda p: p) if os.path.isabs(directory) else os.path.relpath
        resources = [_placed(item, wrapper, show) for item in loaded]
    return Built(text, resources, problems)


def _kustomize(kubectl: Path, folder: str, timeout: float, what: str, options=()) -> str:
    try:
        done = processes.run([str(kubectl), "kustomize", folder, *options], timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KustomizeError(f"cannot {what}: kubectl did not finish within {timeout:g}s") from None
    except OSError as err:
        raise KustomizeError(f"cannot {what}: cannot run {kubectl}: {err.strerror or err}") from None
    if done.returncode != 0:
        raise KustomizeError(f"cannot {what}: {_message(done.stderr or done.stdout)}")
    return done.stdout


# kubectl logs some failures the klog way: `E1202 16:21:27.872224  444 run.go:72] "command failed" err="..."`,
# or over several lines between `err=<` and `>`
_KLOG = re.compile(r'^[EWIF]\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=(".*"|<)$')


def _message(text: str) -> str:
    lines, block = [], False
    for line in text.strip().splitlines():
        logged = _KLOG.match(line.strip())
        if block:
            block = line.strip() != ">"
            if block:
                lines.append(line[1:] if line.startswith("\t") else line)
        elif logged:
            block = logged.group(1) == "<"
            if not block:
                lines.append(json.loads(logged.group(1)))
        else:
            lines.append(line)
    message = "\n".join(lines).strip()
    message = message[len("error: "):] if message.startswith("error: ") else message
    return message or "kubectl failed without a message"


def _placed(item: LoadedManifest, wrapper: Path, show) -> BuiltResource:
    manifest, line, lines = item.manifest, item.line, item.lines
    origin = _popped(manifest, ORIGIN)
    origin = origin if isinstance(origin, dict) else {}
    transformations = _popped(manifest, TRANSFORMATIONS)
    path = origin.get("path") if isinstance(origin.get("path"), str) else origin.get("configuredIn")
    if not isinstance(path, str) or origin.get("repo"):
        return BuiltResource(manifest, line, lines)  # a remote resource, or kustomize did not say
    file = os.path.normpath(os.path.join(wrapper, path))
    if "path" not in origin:  # made by a generator: the kustomization that configures it
        return BuiltResource(manifest, line, lines, show(file))
    document = _document_in(file, manifest)
    if document is None:
        return BuiltResource(manifest, line, lines, show(file))
    table = {p: n for p, n in document.lines.table().items() if _same(manifest, document.manifest, p)}
    table[()] = document.line
    name = str(get(document.manifest, "metadata", "name", default=""))
    patched = patched_fields(manifest, name, transformations if isinstance(transformations, list) else [],
                             str(wrapper))
    patched = {p: replace(f, file=show(f.file), kustomization=show(f.kustomization)) for p, f in patched.items()}
    return BuiltResource(manifest, line, lines, show(file), document.line, FieldLines(table), patched)


def _popped(manifest: dict, annotation: str):
    """The annotation kustomize added, read and removed from the manifest (None if not there)."""
    annotations = (manifest.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or annotation not in annotations:
        return None
    text = annotations.pop(annotation)
    if not annotations:
        del manifest["metadata"]["annotations"]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _document_in(file: str, manifest: dict):
    """The document of `file` the resource was built from: the only one of its kind, else the only one
    of its kind whose name is part of the built name (a name prefix or suffix may be added)."""
    found, _ = load_file(file)
    same_kind = [d for d in found if d.manifest.get("kind") == manifest.get("kind")]
    if len(same_kind) == 1:
        return same_kind[0]
    name = str(get(manifest, "metadata", "name", default=""))
    named = [d for d in same_kind if str(get(d.manifest, "metadata", "name", default="")) in name]
    exact = [d for d in named if get(d.manifest, "metadata", "name") == name]
    chosen = exact or named
    return chosen[0] if len(chosen) == 1 else None


_MISSING = object()


def _same(built: dict, original: dict, path: tuple) -> bool:
    """The field has the same value in the built resource as in its file."""
    value = get(original, *path, default=_MISSING)
    return value is not _MISSING and get(built, *path, default=_MISSING) == value
