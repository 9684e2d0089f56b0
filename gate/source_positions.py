"""Where findings are in the user's repository: its root, and the line of the user's program that
created each resource.

The SDK sends each resource's source position with its registration (the frame that called the
resource's constructor). A resource created inside a component from an installed package (ours, or
any other) is positioned in that package, which is in no repository: such a resource takes the
position of its nearest ancestor created in the user's own files, i.e. the line that created the
component. A `yaml/v2` child is where its document is in the YAML file, when it came from a file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

_INSTALLED = frozenset({"site-packages", "dist-packages"})  # a virtualenv inside the project is not its code


def source_root(start: Path | None = None) -> Path:
    """The repository the command runs in (the nearest folder up from `start`, default the current
    one, holding `.git`), else `start`: GitHub code scanning reads a relative URI from its root."""
    start = (start or Path.cwd()).resolve()
    return next((folder for folder in (start, *start.parents) if (folder / ".git").exists()), start)


def _users(file: str, root: Path) -> bool:
    try:
        relative = Path(file).resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return not _INSTALLED & set(relative.parts)


def user_positions(resources: Iterable, program_dir: Path) -> dict:
    """{URN: (file, line)} of every resource (a `RegisteredResource`) with a position in the user's
    files: below the repository holding `program_dir` (else below `program_dir`), outside installed
    packages; its own, else its nearest such ancestor's."""
    root = source_root(program_dir)
    by_urn = {r.urn: r for r in resources}
    found: dict = {}
    for resource in by_urn.values():
        seen, current = set(), resource
        while current is not None and current.urn not in seen:
            seen.add(current.urn)
            if current.urn in found or (current.source and _users(current.source[0], root)):
                found[resource.urn] = found.get(current.urn) or (current.source[0], current.source[1])
                break
            current = by_urn.get(current.parent)
    return found
