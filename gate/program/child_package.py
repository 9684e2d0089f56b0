"""The program's child code as a private package that the project's interpreter can import.

The program runs with the project's own interpreter (its virtualenv: `gate/program/interpreter.py`),
which has pulumi and the project's packages but maybe not stateless-pack, or another version of it.
So the child's modules (the supervisor, the host and what they import of stateless-pack, nothing
else) are copied into a folder of the run under a top-level name of their own, `PRIVATE_NAME`, their
imports of `stateless_pack` renamed to it, and that folder is appended at the END of the child's
`sys.path`: it shadows none of the project's packages, and the project's `stateless_pack` (which its
program may import) never replaces the gate's child code.
"""
from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

PRIVATE_NAME = "stateless_pack_program_child"
ENTRY = "stateless_pack.gate.program.supervisor"
_OURS = "stateless_pack"
_RENAMED = re.compile(rf"\b{_OURS}\b")


def _imports(name: str, source: str, is_package: bool) -> set[str]:
    """The names of our modules `source` imports (at any depth: function-level imports too)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in found if n == _OURS or n.startswith(_OURS + ".")}


def closure(entry: str = ENTRY) -> dict[str, Path]:
    """Module name -> file of `entry` and every module of ours it imports, with their packages."""
    files: dict[str, Path] = {}
    pending = [entry]
    while pending:
        name = pending.pop()
        if name in files:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # `from module import function`: a name, not a module
            continue
        if spec is None or not spec.has_location:  # the same, or a namespace package (no file)
            continue
        path = Path(spec.origin)
        files[name] = path
        parents = name.split(".")
        pending.extend(".".join(parents[:i]) for i in range(1, len(parents)))
        pending.extend(_imports(name, path.read_text(encoding="utf-8"), path.name == "__init__.py"))
    return files


def _renamed(source: str) -> str:
    """`source` with its import statements of our modules naming `PRIVATE_NAME` instead."""
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for number in range(node.lineno - 1, node.end_lineno):
                lines[number] = _RENAMED.sub(PRIVATE_NAME, lines[number])
    return "".join(lines)


def write(folder: Path) -> None:
    """The private package under `folder` (which goes on the child's sys.path)."""
    for name, path in closure().items():
        parts = [PRIVATE_NAME, *name.split(".")[1:]]
        target = folder.joinpath(*parts, "__init__.py") if path.name == "__init__.py" else \
            folder.joinpath(*parts[:-1], parts[-1] + ".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_renamed(path.read_text(encoding="utf-8")), encoding="utf-8")


def command(python: str, folder: Path, result_fd: int, *host: str) -> list[str]:
    """The child's command line: the project's interpreter running the private supervisor (`host`:
    its arguments for the host it forks)."""
    module = PRIVATE_NAME + ENTRY[len(_OURS):]
    bootstrap = (f"import runpy, sys; sys.path.append({str(folder)!r}); "
                 f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [python, "-c", bootstrap, str(result_fd), *host]
