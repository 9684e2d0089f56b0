"""Loading Kubernetes manifests from YAML files and folders, with every problem reported.

Checkov drops a file it cannot parse without a word; here every file under the given paths is
either loaded or reported as a `ManifestProblem` (file and line) that the caller must report:
- a YAML error, a document that is not a manifest, a key repeated in one mapping (which value would
  the cluster use?), a mapping used as a key (an unrendered Helm `{{ }}`), nesting deeper than
  `MAX_DEPTH`: `ERROR` (blocks);
- a file without resources (empty, comments only, a `List` without items): `EMPTY`;
- what a folder walk does not read: unreadable folders and files, broken links, FIFOs, sockets and
  devices named like manifests (never opened: a FIFO would hang the scan) are `ERROR`; hidden
  folders (`.git`, `.venv`, ...) are `SKIPPED` unless asked for.
Symbolic links to folders are followed (each folder once), extensions match in any case, a file
reached twice is loaded once. Multi-document files are split, `kind: List` (and `<Kind>List`) is
expanded into its items, YAML merge keys (`<<:`) are merged.

Line tracking lives here and only here: the loader records the line of every field of every
manifest from YAML's marks (`FieldLines`), and the reports take their lines from it.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from stateless_pack.policies.manifest import undotted
from stateless_pack.policies.strict_yaml import StrictLoader, error_line, error_text

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")   # matched in any case
MAX_DEPTH = 100  # real manifests (even CRD schemas) nest a few dozen levels; deeper is an attack or a bug
ERROR, EMPTY, SKIPPED = "error", "empty", "skipped"
CHART_FILE = "Chart.yaml"  # a folder holding it is a Helm chart

FIX_YAML = ("Make the file valid Kubernetes YAML (after a YAML syntax error nothing more of the file is "
            "checked), or leave it out of the scanned paths.")
FIX_UNREADABLE = "Make it readable for the user running the scan, or leave it out of the scanned paths."
FIX_NOT_A_FILE = "Manifests must be regular files: leave FIFOs, sockets and devices out of the scanned paths."
FIX_EMPTY = "Remove the file or folder, or pass --allow-empty if input without resources is expected."
FIX_HIDDEN = "Hidden folders are not scanned: name the folder itself, or pass --include-hidden."


@dataclass(frozen=True)
class ManifestProblem:
    file: str
    line: int      # 1-based; 0 when the problem is the file itself (missing, unreadable, empty)
    message: str
    kind: str = ERROR   # ERROR | EMPTY | SKIPPED
    fix: str = FIX_YAML

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class FieldLines:
    """The 1-based line of every field of one manifest, recorded from the YAML loader's marks.

    `line_of("spec.ports[1].port")` is the line of that field, or of the deepest part of the path
    that exists (a missing field is reported where it belongs); `load` defers reading a file until
    a line is first asked for.
    """

    def __init__(self, lines: dict | None = None, *, load: Callable[[], dict] | None = None):
        self._lines, self._load = lines, load

    @classmethod
    def of_node(cls, node: yaml.Node) -> "FieldLines":
        lines: dict = {(): node.start_mark.line + 1}
        stack, seen = [((), node)], set()
        while stack:
            path, current = stack.pop()
            if id(current) in seen:  # an alias: its fields are where the anchor is
                continue
            seen.add(id(current))
            if isinstance(current, yaml.MappingNode):
                children = [((*path, key.value), key, value) for key, value in current.value
                            if isinstance(key, yaml.ScalarNode)]
            elif isinstance(current, yaml.SequenceNode):
                children = [((*path, i), item, item) for i, item in enumerate(current.value)]
            else:
                continue
            for child_path, marker, child in children:
                lines.setdefault(child_path, marker.start_mark.line + 1)
                stack.append((child_path, child))
        return cls(lines)

    @classmethod
    def of_file(cls, file: str) -> "FieldLines":
        """The lines of the first manifest of `file`, read when first asked for (none if unreadable)."""
        def load() -> dict:
            loaded, _ = load_file(file)
            return loaded[0].lines._table() if loaded else {}
        return cls(load=load)

    def _table(self) -> dict:
        if self._lines is None:
            self._lines = self._load() if self._load else {}
        return self._lines

    def table(self) -> dict:
        """{path as a tuple of keys and indexes: its 1-based line}."""
        return dict(self._table())

    def line_of(self, path: str) -> int:
        table, parts = self._table(), tuple(str(p) if not isinstance(p, int) else p for p in undotted(path))
        for end in range(len(parts), -1, -1):
            if parts[:end] in table:
                return table[parts[:end]]
        return 0


@dataclass(frozen=True)
class LoadedManifest:
    manifest: dict
    file: str   # the file it came from, as given (folder + relative path)
    line: int   # 1-based line where its document (or its List item) starts
    lines: FieldLines = field(default_factory=FieldLines, compare=False, repr=False)


# ---- finding the files ----------------------------------------------------------------------

def is_manifest_name(name: str) -> bool:
    return name.lower().endswith(MANIFEST_SUFFIXES)


def manifest_files(paths: list[str], *, include_hidden: bool = False, charts: list | None = None
                   ) -> tuple[list[str], list[ManifestProblem]]:
    """The manifest files under `paths` (files as given, folders walked in sorted order), each once.
    `charts`: a folder holding a `Chart.yaml` is not walked but added there (its templates are not
    YAML until helm renders them)."""
    files, problems, seen_dirs = [], [], set()
    for path in paths:
        if os.path.isdir(path):
            found = _walk(path, problems, seen_dirs, include_hidden, charts)
            if not found and not (charts and any(_within(chart, path) for chart in charts)):
                problems.append(ManifestProblem(
                    path, 0, f"no manifest files ({', '.join(MANIFEST_SUFFIXES)}) in folder", EMPTY, FIX_EMPTY))
            files.extend(found)
        elif os.path.lexists(path):
            files.append(path)  # a file given by name is read whatever its name (load_file checks its type)
        else:
            problems.append(ManifestProblem(path, 0, "no such file or folder", ERROR,
                                            "Check the path (a typo?), or leave it out."))
    unique: dict = {}
    for file in files:  # a broken link is its own entry: each one is reported
        unique.setdefault(os.path.realpath(file) if os.path.exists(file) else file, file)
    return list(unique.values()), problems


def _within(folder: str, root: str) -> bool:
    return os.path.commonpath([os.path.abspath(folder), os.path.abspath(root)]) == os.path.abspath(root)


def _walk(folder: str, problems: list, seen_dirs: set, include_hidden: bool, charts: list | None = None
          ) -> list[str]:
    """Depth-first in sorted order, following links to folders (each real folder once)."""
    found, stack = [], [folder]
    while stack:
        current = stack.pop()
        real = os.path.realpath(current)
        if real in seen_dirs:
            continue  # a link back to a folder already walked: its files are already in
        seen_dirs.add(real)
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as err:
            problems.append(ManifestProblem(current, 0, f"cannot read folder: {err.strerror or err}",
                                            ERROR, FIX_UNREADABLE))
            continue
        subfolders = []
        for entry in entries:
            if _is_dir(entry):
                if entry.name.startswith(".") and not include_hidden:
                    problems.append(ManifestProblem(entry.path, 0, "hidden folder not scanned", SKIPPED,
                                                    FIX_HIDDEN))
                elif charts is not None and os.path.isfile(os.path.join(entry.path, CHART_FILE)):
                    charts.append(entry.path)
                else:
                    subfolders.append(entry.path)
            elif is_manifest_name(entry.name):
                found.append(entry.path)  # load_file reports a broken link or a FIFO, never opens one
        stack.extend(reversed(subfolders))
    return found


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


# ---- reading them ---------------------------------------------------------------------------

def load_manifests(paths: list[str], *, include_hidden: bool = False, charts: list | None = None
                   ) -> tuple[list[LoadedManifest], list[ManifestProblem]]:
    """All manifests under `paths`, in file and document order, and every problem found (`charts`:
    see `manifest_files`)."""
    files, problems = manifest_files(paths, include_hidden=include_hidden, charts=charts)
    manifests: list[LoadedManifest] = []
    for file in files:
        found, file_problems = load_file(file)
        manifests.extend(found)
        problems.extend(file_problems)
    return manifests, problems


class NotARegularFile(OSError):
    """A FIFO, socket, device or folder where a manifest file was expected."""


def read_text(file: str) -> str:
    """A regular file's text; OSError/UnicodeDecodeError otherwise. Never blocks on a FIFO: its type is
    checked before it is opened, and again on the open descriptor (opened non-blocking)."""
    mode = os.stat(file).st_mode
    if not stat.S_ISREG(mode):
        raise NotARegularFile(f"not a regular file ({_file_type(mode)}): not read")
    descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):  # replaced between the two looks
            raise NotARegularFile(f"not a regular file ({_file_type(mode)}): not read")
        return handle.read().decode("utf-8")


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a file"


def load_file(file: str) -> tuple[list[LoadedManifest], list[ManifestProblem]]:
    """The manifests of one file; every problem of it. After a YAML syntax error nothing more of the
    file can be read; a document with any other problem is reported and the next one still read."""
    try:
        text = read_text(file)
    except NotARegularFile as err:
        return [], [ManifestProblem(file, 0, str(err), ERROR, FIX_NOT_A_FILE)]
    except FileNotFoundError:
        return [], [ManifestProblem(file, 0, "cannot read file: a broken link or removed while scanned",
                                    ERROR, FIX_UNREADABLE)]
    except (OSError, UnicodeDecodeError) as err:
        return [], [ManifestProblem(file, 0, f"cannot read file: {err}", ERROR, FIX_UNREADABLE)]
    return load_text(text, file)


def load_text(text: str, file: str) -> tuple[list[LoadedManifest], list[ManifestProblem]]:
    """The manifests of `text` (read from `file`, or a tool's output named so) and every problem of it."""
    manifests: list[LoadedManifest] = []
    problems: list[ManifestProblem] = []
    loader = StrictLoader(text)
    try:
        while loader.check_node():
            _load_document(loader, loader.get_node(), file, manifests, problems)
    except yaml.YAMLError as err:  # the parser itself: nothing after this point can be read
        problems.append(ManifestProblem(file, error_line(err), f"YAML error: {error_text(err)}"))
    except RecursionError:  # pure-Python parser without libyaml: its composer recurses per level
        problems.append(ManifestProblem(file, 0, f"YAML nested more than {MAX_DEPTH} levels deep"))
    finally:
        loader.dispose()
    if not manifests and not problems:
        problems.append(ManifestProblem(file, 0, "no resources (an empty or comments-only file, or a List "
                                                 "without items)", EMPTY, FIX_EMPTY))
    return manifests, problems


def _load_document(loader, node, file: str, manifests: list, problems: list) -> None:
    if node is None:
        return  # an empty document (`---` at the end, a comment-only file)
    too_deep = _too_deep(node)
    if too_deep is not None:
        problems.append(ManifestProblem(file, too_deep.start_mark.line + 1,
                                        f"YAML nested more than {MAX_DEPTH} levels deep"))
        return
    try:
        document = loader.construct_document(node)
    except yaml.YAMLError as err:  # the document is composed: the next one can still be read
        problems.append(ManifestProblem(file, error_line(err), f"YAML error: {error_text(err)}"))
        return
    _collect(document, node, file, manifests, problems)


def as_loaded(document: Any, file: str) -> LoadedManifest | None:
    """What `load_file` reads back from a file that holds just `document` as `yaml.dump` wrote it
    (the gate's own rendering), without reading it: the manifest, from line 1, its field lines read
    when first asked for. None when the loader would do more than read it back (a List it expands,
    a document it reports: not a manifest, nested deeper than MAX_DEPTH): read that file instead."""
    if not isinstance(document, dict) or _is_list_kind(document) or _missing_identity(document) \
            or _deeper_than(document, MAX_DEPTH):
        return None
    return LoadedManifest(document, file, 1, FieldLines.of_file(file))


def _deeper_than(value: Any, depth: int) -> bool:
    stack = [(value, 0)]
    while stack:
        current, level = stack.pop()
        if level > depth:
            return True
        if isinstance(current, dict):
            stack.extend((child, level + 1) for pair in current.items() for child in pair)
        elif isinstance(current, list):
            stack.extend((child, level + 1) for child in current)
    return False


def _too_deep(node) -> yaml.Node | None:
    """The first node nested deeper than MAX_DEPTH (walked without recursion), else None."""
    stack, seen = [(node, 0)], set()
    while stack:
        current, depth = stack.pop()
        if depth > MAX_DEPTH:
            return current
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            stack.extend((child, depth + 1) for pair in current.value for child in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in current.value)
    return None


def _is_list_kind(document: dict) -> bool:
    kind = document.get("kind")
    return kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in document)


def _collect(document, node, file: str, manifests: list, problems: list) -> None:
    line = node.start_mark.line + 1
    if document is None:
        return
    if not isinstance(document, dict):
        problems.append(ManifestProblem(file, line, f"not a Kubernetes manifest: a {type(document).__name__}, "
                                                    "not a mapping"))
        return
    if _is_list_kind(document):
        items = document.get("items")
        if not isinstance(items, (list, type(None))):
            problems.append(ManifestProblem(file, line, f"{document['kind']}: items is not a list"))
            return
        item_nodes = _items_nodes(node)
        for i, item in enumerate(items or []):
            _collect(item, item_nodes[i] if i < len(item_nodes) else node, file, manifests, problems)
        return
    missing = _missing_identity(document)
    if missing:
        problems.append(ManifestProblem(file, line, f"not a Kubernetes manifest: no {' or '.join(missing)}"))
        return
    manifests.append(LoadedManifest(document, file, line, FieldLines.of_node(node)))


def _missing_identity(document: dict) -> list[str]:
    return [key for key in ("apiVersion", "kind") if not isinstance(document.get(key), str) or not document[key]]


def _items_nodes(node) -> list:
    """The YAML nodes of a List's items, for their line numbers."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == "items" and isinstance(value_node, yaml.SequenceNode):
                return value_node.value
    return []
