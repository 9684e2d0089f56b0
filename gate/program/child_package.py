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

import dis
import functools
import importlib.util
import re
import threading
import types
from pathlib import Path
from typing import Iterator

PRIVATE_NAME = "stateless_pack_program_child"
ENTRY = "stateless_pack.gate.program.supervisor"
_OURS = "stateless_pack"
_RENAMED = re.compile(rf"\b{_OURS}\b")


def _import_statements(source: str) -> Iterator[tuple[str, int, tuple, range]]:
    """(module, level, from-list, lines) of every import statement of `source`, at any depth.
    Read from the compiled bytecode, not the AST: CPython 3.11 builds Python AST objects with a
    recursion counter shared by all threads, so `ast.parse` fails ("AST constructor recursion depth
    mismatch") while another thread formats a traceback (which parses too)."""
    pending = [compile(source, "<child module>", "exec", dont_inherit=True)]
    while pending:
        code = pending.pop()
        pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        instructions = list(dis.get_instructions(code))
        for i, instruction in enumerate(instructions):
            if instruction.opname == "IMPORT_NAME" and i >= 2:
                level, names = instructions[i - 2].argval, instructions[i - 1].argval
                lines = instruction.positions
                yield instruction.argval, level or 0, tuple(names or ()), range(lines.lineno, lines.end_lineno + 1)


def _imports(name: str, source: str, is_package: bool) -> set[str]:
    """The names of our modules `source` imports (at any depth: function-level imports too)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for module, level, names, _ in _import_statements(source):
        base = module
        if level:
            parts = package.split(".")[: len(package.split(".")) - level + 1]
            base = ".".join(parts + ([module] if module else []))
        found.add(base)
        found.update(f"{base}.{alias}" for alias in names if alias != "*")
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
    for _, _, _, numbers in _import_statements(source):
        for number in numbers:
            lines[number - 1] = _RENAMED.sub(PRIVATE_NAME, lines[number - 1])
    return "".join(lines)


_built_lock = threading.Lock()


@functools.cache
def _built() -> tuple[tuple[tuple[str, ...], str], ...]:
    """(relative path, renamed source) of every file of the package, made once per process."""
    built = []
    for name, path in closure().items():
        parts = [PRIVATE_NAME, *name.split(".")[1:]]
        relative = (*parts, "__init__.py") if path.name == "__init__.py" else (*parts[:-1], parts[-1] + ".py")
        built.append((relative, _renamed(path.read_text(encoding="utf-8"))))
    return tuple(built)


def write(folder: Path) -> None:
    """The private package under `folder` (which goes on the child's sys.path)."""
    with _built_lock:
        files = _built()
    for relative, source in files:
        target = folder.joinpath(*relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")


def command(python: str, folder: Path, result_fd: int, *host: str) -> list[str]:
    """The child's command line: the project's interpreter running the private supervisor (`host`:
    its arguments for the host it forks)."""
    module = PRIVATE_NAME + ENTRY[len(_OURS):]
    bootstrap = (f"import runpy, sys; sys.path.append({str(folder)!r}); "
                 f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [python, "-c", bootstrap, str(result_fd), *host]
