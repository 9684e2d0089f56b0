"""The structure stays easy to see: no import cycle (function-level imports included), no long
functions in the catalog and the components, no block of code written twice."""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from support.paths import REPO

PACKAGES = {"components": "stateless_pack.components", "policies": "stateless_pack.policies",
            "gate": "stateless_pack.gate", "provider": "stateless_pack.provider"}
MAX_FUNCTION_LINES = 60
MIN_REPEATED_LINES = 6


def modules() -> dict[str, Path]:
    """Importable module name -> file, for every module of the distribution."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def imports_of(path: Path, name: str, known: dict) -> set[str]:
    """The distribution's modules `path` imports, at any depth of the file (function-level too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return result


def test_no_import_cycles_even_through_function_level_imports():
    known = modules()
    # a package's __init__ is imported on the way to its modules: not an edge of its own
    graph = {name: {t for t in imports_of(path, name, known) if not name.startswith(t + ".")}
             for name, path in known.items()}
    assert cycles(graph) == []


def test_cycle_detection_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_over_sixty_lines_in_policies_and_components():
    long = []
    for folder in ("policies", "components", "provider"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, normalised text) of the lines that are code: no blanks, comments, imports,
    docstrings or lone punctuation; whitespace folded."""
    text = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = re.sub(r"\s+", " ", line.split(" #")[0]).strip()
        if (number in docstrings or not stripped or stripped.startswith(("#", "import ", "from "))
                or re.fullmatch(r"[\[\](){},:]+", stripped)):
            continue
        found.append((number, stripped))
    return found


def repeated_blocks(paths: list[Path], size: int = MIN_REPEATED_LINES) -> list[str]:
    """Places where `size` consecutive code lines stand again elsewhere (literally)."""
    seen: dict[tuple, tuple[Path, int]] = {}
    found = []
    for path in paths:
        lines = _code_lines(path)
        for i in range(len(lines) - size + 1):
            window = tuple(text for _, text in lines[i:i + size])
            first = seen.setdefault(window, (path, lines[i][0]))
            if first != (path, lines[i][0]) and (first[0] != path or lines[i][0] - first[1] >= size):
                found.append(f"{path.relative_to(REPO)}:{lines[i][0]} repeats {first[0].relative_to(REPO)}:{first[1]}")
    return found


def test_no_block_of_six_lines_written_twice_outside_the_tests():
    paths = [p for folder in PACKAGES for p in sorted((REPO / folder).rglob("*.py"))]
    paths += sorted((REPO / "bench").rglob("*.py")) + [REPO / "__main__.py"]
    assert repeated_blocks(paths) == []


def test_repetition_detection_finds_a_copy(tmp_path):
    block = "".join(f"x{i} = compute({i}, 'a')\n" for i in range(7))
    (tmp_path / "a.py").write_text(block)
    (tmp_path / "b.py").write_text("y = 1\n" + block)
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        assert repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"])
        assert repeated_blocks([tmp_path / "a.py"]) == []
    finally:
        REPO = saved
