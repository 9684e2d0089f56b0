"""Which patch of a kustomization wrote a field of a built resource, where that can be told.

kustomize says which kustomizations' patch transformers processed a resource
(`buildMetadata: [transformerAnnotations]`), not which patch changed what. A field is credited to
a patch only when all of this holds: the patch is listed by one of those kustomizations
(`patches`, `patchesStrategicMerge`, `patchesJson6902`), it targets the resource by kind and name
(a strategic-merge patch by its own kind and `metadata.name`; a `target` only by plain `kind`,
`name` and `namespace`: selectors and name patterns are not evaluated, such patches are not
credited), and the built resource holds exactly what the patch writes at that field. When several
patches qualify, the last one kustomize applies wins. Inline patches are placed at their entry in
the kustomization.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import yaml

from stateless_pack.gate.render.manifest_files import FieldLines, read_text
from stateless_pack.policies.manifest import get
from stateless_pack.policies.strict_yaml import StrictLoader

TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
PATCH_TRANSFORMERS = ("PatchTransformer", "PatchStrategicMergeTransformer", "PatchJson6902Transformer")
_IDENTITY = {("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("metadata", "namespace")}
_PATTERN = re.compile(r"[\\^$.*+?()\[\]{}|]")


@dataclass(frozen=True)
class PatchedField:
    file: str            # the patch file, or the kustomization holding an inline patch
    line: int
    kustomization: str   # the kustomization that lists the patch


def patched_fields(manifest: dict, original_name: str, transformations: list, root: str) -> dict:
    """{field path (tuple): PatchedField} of the built `manifest`; `transformations`: its
    transformations annotation, read; `root`: the folder kustomize built (paths are relative to it)."""
    found: dict = {}
    for step in transformations:
        if not isinstance(step, dict) or get(step, "configuredBy", "kind") not in PATCH_TRANSFORMERS:
            continue
        kustomization = os.path.normpath(os.path.join(root, str(step.get("configuredIn", ""))))
        for patch in _patches(kustomization):
            if patch.targets(manifest, original_name):
                found.update(patch.fields(manifest, kustomization))
    return found


@dataclass
class _Patch:
    content: object             # a mapping (strategic merge) or a list of JSON 6902 operations
    lines: FieldLines
    file: str
    line: int                   # where the content starts in `file` (0: its own file)
    target: dict | None

    def targets(self, manifest: dict, original_name: str) -> bool:
        if self.target is not None:
            wanted = {key: self.target.get(key) for key in ("kind", "name", "namespace") if self.target.get(key)}
            if set(self.target) - {"kind", "name", "namespace", "group", "version"} or "name" not in wanted \
                    or any(_PATTERN.search(str(v)) for v in wanted.values()):
                return False  # a selector or a name pattern: not evaluated here
            names = {original_name, get(manifest, "metadata", "name")}
            return wanted.get("kind", manifest.get("kind")) == manifest.get("kind") and wanted["name"] in names \
                and wanted.get("namespace", get(manifest, "metadata", "namespace")) == \
                get(manifest, "metadata", "namespace")
        if not isinstance(self.content, dict):
            return False
        return self.content.get("kind") == manifest.get("kind") and \
            get(self.content, "metadata", "name") in (original_name, get(manifest, "metadata", "name"))

    def fields(self, manifest: dict, kustomization: str) -> dict:
        found = {}
        if isinstance(self.content, dict):
            for path, line in self.lines.table().items():
                if path not in _IDENTITY and path and _holds(get(manifest, *path, default=_MISSING),
                                                             get(self.content, *path)):
                    found[path] = PatchedField(self.file, self.line or line, kustomization)
        elif isinstance(self.content, list):
            for index, op in enumerate(self.content):
                path = _pointer(op.get("path")) if isinstance(op, dict) and op.get("op") in ("add", "replace") else None
                if path is not None and _holds(get(manifest, *path, default=_MISSING), op.get("value")):
                    found[path] = PatchedField(self.file, self.line or self.lines.table().get((index,), 0),
                                               kustomization)
        return found


_MISSING = object()


def _holds(built, written) -> bool:
    """The built value holds all that the patch wrote (a merged mapping may hold more)."""
    if built is _MISSING:
        return False
    if isinstance(written, dict):
        return isinstance(built, dict) and all(_holds(built.get(k, _MISSING), v) for k, v in written.items())
    return built == written


def _pointer(text) -> tuple | None:
    """A JSON pointer (`/spec/ports/0/port`) as a field path; None for `-` (append) or no pointer."""
    if not isinstance(text, str) or not text.startswith("/"):
        return None
    parts = [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]
    if "-" in parts:
        return None
    return tuple(int(p) if p.isdigit() else p for p in parts)


def _patches(kustomization: str) -> list[_Patch]:
    data, lines = _load(kustomization)
    if not isinstance(data, dict):
        return []
    folder = os.path.dirname(kustomization)
    found = []
    for key in ("patches", "patchesJson6902", "patchesStrategicMerge"):
        entries = data.get(key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, str):
                entry = {"path": entry} if "\n" not in entry else {"patch": entry}
            if not isinstance(entry, dict):
                continue
            target = entry.get("target") if isinstance(entry.get("target"), dict) else None
            if isinstance(entry.get("path"), str):
                file = os.path.normpath(os.path.join(folder, entry["path"]))
                for content, content_lines in _documents(file):
                    found.append(_Patch(content, content_lines, file, 0, target))
            elif isinstance(entry.get("patch"), str):
                line = lines.table().get((key, index, "patch")) or lines.table().get((key, index), 0)
                for content, content_lines in _parsed(entry["patch"]):
                    found.append(_Patch(content, content_lines, kustomization, line, target))
    return found


def _load(file: str):
    documents = _documents(file)
    return documents[0] if documents else (None, FieldLines())


def _documents(file: str) -> list:
    try:
        return _parsed(read_text(file))
    except (OSError, UnicodeDecodeError):
        return []


def _parsed(text: str) -> list:
    """(content, FieldLines) of each document of `text`; nothing if it does not parse."""
    loader = StrictLoader(text)
    found = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                found.append((loader.construct_document(node), FieldLines.of_node(node)))
    except yaml.YAMLError:
        return []
    finally:
        loader.dispose()
    return found
