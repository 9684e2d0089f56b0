"""Loading Kubernetes manifests from YAML files and folders, with every problem reported.

Checkov drops a file it cannot parse without a word; here a YAML error, a document that is not a
manifest, a missing path or a folder without manifests is a `ManifestProblem` (file and line) that
the caller must report. Multi-document files are split, `kind: List` (and `<Kind>List`) is expanded
into its items, and a key repeated in one mapping is an error (which value would the cluster use?).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import yaml

from stateless_pack.policies.strict_yaml import StrictLoader

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class LoadedManifest:
    manifest: dict
    file: str   # the file it came from, as given (folder + relative path)
    line: int   # 1-based line where its document (or its List item) starts


@dataclass(frozen=True)
class ManifestProblem:
    file: str
    line: int   # 1-based; 0 when the problem is the file itself (missing, unreadable)
    message: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class _StrictLoader(StrictLoader):  # StrictLoader refuses alias bombs before Checkov ever sees one
    """SafeLoader that rejects a key repeated in one mapping instead of keeping the last value."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def manifest_files(paths: list[str]) -> tuple[list[str], list[ManifestProblem]]:
    """The manifest files under `paths` (files as given, folders walked in sorted order).

    Hidden folders (`.git`, `.venv`, ...) inside a given folder are not walked, as in Checkov.
    """
    files, problems = [], []
    for path in paths:
        if os.path.isfile(path):
            files.append(path)
        elif os.path.isdir(path):
            found = list(_walk(path))
            if not found:
                problems.append(ManifestProblem(path, 0, f"no manifest files ({', '.join(MANIFEST_SUFFIXES)}) in folder"))
            files.extend(found)
        else:
            problems.append(ManifestProblem(path, 0, "no such file or folder"))
    return list(dict.fromkeys(files)), problems


def _walk(folder: str) -> Iterator[str]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.endswith(MANIFEST_SUFFIXES):
                yield os.path.join(root, name)


def load_manifests(paths: list[str]) -> tuple[list[LoadedManifest], list[ManifestProblem]]:
    """All manifests under `paths`, in file and document order, and every problem found."""
    files, problems = manifest_files(paths)
    manifests: list[LoadedManifest] = []
    for file in files:
        found, file_problems = load_file(file)
        manifests.extend(found)
        problems.extend(file_problems)
    return manifests, problems


def load_file(file: str) -> tuple[list[LoadedManifest], list[ManifestProblem]]:
    """The manifests of one file. Documents before a YAML error are kept; the error is reported."""
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        return [], [ManifestProblem(file, 0, f"cannot read file: {err}")]
    manifests: list[LoadedManifest] = []
    problems: list[ManifestProblem] = []
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            document = loader.construct_document(node)
            _collect(document, node, file, manifests, problems)
    except yaml.YAMLError as err:
        problems.append(_yaml_problem(file, err))
    finally:
        loader.dispose()
    return manifests, problems


def _yaml_problem(file: str, err: yaml.YAMLError) -> ManifestProblem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    message = f"YAML error: {context + ': ' if context else ''}{problem}"
    return ManifestProblem(file, line, message)


def _is_list_kind(document: dict) -> bool:
    kind = document.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in document


def _collect(document, node, file: str, manifests: list, problems: list) -> None:
    line = node.start_mark.line + 1 if node is not None else 1
    if document is None:
        return  # an empty document (`---` at the end, a comment-only file): nothing to check
    if not isinstance(document, dict):
        problems.append(ManifestProblem(file, line, f"not a Kubernetes manifest: a {type(document).__name__}, "
                                                    "not a mapping"))
        return
    if _is_list_kind(document):
        items = document["items"]
        if not isinstance(items, list):
            problems.append(ManifestProblem(file, line, f"{document['kind']}: items is not a list"))
            return
        item_nodes = _items_nodes(node)
        for i, item in enumerate(items):
            _collect(item, item_nodes[i] if i < len(item_nodes) else node, file, manifests, problems)
        return
    missing = [key for key in ("apiVersion", "kind") if not isinstance(document.get(key), str) or not document[key]]
    if missing:
        problems.append(ManifestProblem(file, line, f"not a Kubernetes manifest: no {' or '.join(missing)}"))
        return
    manifests.append(LoadedManifest(document, file, line))


def _items_nodes(node) -> list:
    """The YAML nodes of a List's items, for their line numbers."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "items" and isinstance(value_node, yaml.SequenceNode):
                return value_node.value
    return []
