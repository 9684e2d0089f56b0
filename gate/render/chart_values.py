"""Which values keys a line of a Helm template depends on, and which values file sets them.

Only what the template says in so many words: the `.Values.a.b` (or `$.Values.a.b`) references in
the actions on the line itself ("writes": the line's value comes from them), and in the `if`,
`else if`, `with` and `range` actions of the blocks around it ("renders": the line is there because
of them). Inside `with .Values.a`, `.b` is `a.b`. References through variables, `index`, `get` or
helpers (`include`) are not followed: those lines name no key, rather than a guessed one. A
subchart's keys are given as the top chart's values see them (`worker.stateful`; `global.*` as is).

Where a key is set: the first of `--set`, the values given as a mapping, the `--values` files (the
last one first), the chart's `values.yaml` (a subchart's key also in its own `values.yaml`) that
sets it or a key above it. Values themselves are never quoted: they may be secrets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import yaml

from stateless_pack.gate.render.chart_files import ChartFiles
from stateless_pack.gate.render.manifest_files import FieldLines
from stateless_pack.gate.render.template_lines import Action, Template
from stateless_pack.policies.strict_yaml import StrictLoader

_VALUES_REF = re.compile(r"(?<![\w)\]])\$?\.Values((?:\.\w+)+)")
_DOT_REF = re.compile(r"(?<![\w)\]$])\.(\w+(?:\.\w+)*)?(?![\w(])")
_KEYWORD = re.compile(r"^\{\{-?\s*(if|else\s+if|else\s+with|else|with|range|define|block|end)\b", re.S)
_OPENERS = ("if", "with", "range", "define", "block")


@dataclass(frozen=True)
class ValuesUse:
    key: str          # as the top chart's values name it: "service.sessionAffinity", "worker.stateful"
    how: str          # "writes" (an action on the line) | "renders" (a block around the line)
    action: str       # the action's text
    line: int         # the action's line in the template


@dataclass
class _Block:
    keyword: str
    actions: list      # the opening action, then each `else ...`
    line: int
    dot: str | None    # the values key `.` stands for inside, None: not a values key


def uses(template: Template, line: int, subchart_keys: Sequence[str] = ()) -> list[ValuesUse]:
    """The values keys line `line` of `template` depends on: its own first, then the blocks around it
    (innermost first)."""
    blocks = _blocks_around(template, line)
    if any(block.keyword == "define" for block in blocks):
        return []  # `.Values` inside a helper is whatever its caller passed
    dot = next((b.dot for b in reversed(blocks) if b.keyword in ("with", "range")), "")
    found = []
    for action in template.actions_on(line):  # `kind: {{ if .Values.x }}A{{ else }}B{{ end }}`: x decides
        how = "renders" if _KEYWORD.match(action.text) else "writes"
        found += [ValuesUse(_top_key(key, subchart_keys), how, action.text, _line_of(template, action))
                  for key in _keys(action.text, dot)]
    for depth, block in reversed(list(enumerate(blocks))):
        outer = next((b.dot for b in reversed(blocks[:depth]) if b.keyword in ("with", "range")), "")
        for action in block.actions:
            found += [ValuesUse(_top_key(key, subchart_keys), "renders", action.text, _line_of(template, action))
                      for key in _keys(action.text, outer)]
    return list(dict.fromkeys(found))


def _keys(action: str, dot: str | None) -> list[str]:
    """The values keys an action names; `dot`: the key `.` stands for ("" at the top, None: unknown)."""
    keys = [m.group(1)[1:] for m in _VALUES_REF.finditer(action)]
    if dot:
        for match in _DOT_REF.finditer(_VALUES_REF.sub("", _strings_removed(action))):
            keys.append(f"{dot}.{match.group(1)}" if match.group(1) else dot)
    return keys


def _strings_removed(action: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"|`[^`]*`', '""', action)


def _top_key(key: str, subchart_keys: Sequence[str]) -> str:
    if key == "global" or key.startswith("global.") or not subchart_keys:
        return key
    return ".".join([*subchart_keys, key])


def _line_of(template: Template, action: Action) -> int:
    return template.text.count("\n", 0, action.start) + 1


def _blocks_around(template: Template, line: int) -> list[_Block]:
    """The blocks open at the start of line `line`, outermost first."""
    start = template.starts[line - 1]
    stack: list[_Block] = []
    for action in template.actions:
        if action.end > start:
            break
        found = _KEYWORD.match(action.text)
        if not found:
            continue
        keyword = found.group(1).split()[0]
        if keyword in _OPENERS:
            outer = next((b.dot for b in reversed(stack) if b.keyword in ("with", "range")), "")
            dot = _with_dot(action.text, outer) if keyword == "with" else None
            stack.append(_Block(keyword, [action], _line_of(template, action), dot))
        elif keyword == "else" and stack:
            stack[-1].actions.append(action)
        elif keyword == "end" and stack:
            stack.pop()
    return stack


def _with_dot(action: str, outer: str | None) -> str | None:
    """The key `.` stands for inside `{{ with X }}`: X when X is just a values key."""
    found = re.match(r"^\{\{-?\s*with\s+(\$?\.Values(?:\.\w+)+|\.\w+(?:\.\w+)*)\s*-?\}\}$", action)
    if not found:
        return None
    ref = found.group(1)
    if ".Values." in ref:
        return ref.split(".Values.", 1)[1]
    return f"{outer}.{ref[1:]}" if outer else None


# ---- where a key is set ------------------------------------------------------------------------

@dataclass(frozen=True)
class SetBy:
    where: str        # "set by --set replicaCount", "set in the values given to the chart", "set in FILE"
    file: str = ""
    line: int = 0


def set_by(key: str, chart: ChartFiles | None, *, values_files: Sequence[str] = (),
           values: Mapping | None = None, set_values: Sequence[str] = ()) -> SetBy | None:
    """Where `key` (or a key above it) gets the value the chart renders with; None: nowhere, the
    template's own default applies."""
    parts = key.split(".")
    for option in reversed(list(set_values)):
        for assignment in _assignments(option):
            if _overlaps(parts, assignment.split(".")):
                return SetBy(f"set by --set {assignment}")
    if values is not None and _line_in(values, parts) is not None:
        return SetBy("set in the values given to the chart")
    for file in reversed(list(values_files)):
        found = _in_file(file, _read(file), parts)
        if found:
            return found
    for owner, keys in _charts_on_the_way(chart, parts):
        text = owner.files.get("values.yaml")
        found = _in_file(owner.file_path("values.yaml") or f"{owner.name}/values.yaml", text, keys) if text else None
        if found:
            return found
    return None


def _assignments(option: str) -> list[str]:
    """The keys of one `--set a.b=1,c=2` (helm's escaped commas kept together)."""
    return [part.split("=", 1)[0].strip() for part in re.split(r"(?<!\\),", option) if "=" in part]


def _overlaps(key: list[str], other: list[str]) -> bool:
    length = min(len(key), len(other))
    return key[:length] == [re.sub(r"\[\d+\]$", "", p) for p in other[:length]]


def _charts_on_the_way(chart: ChartFiles | None, parts: list[str]):
    """(chart, the key as that chart's values name it): the top chart, then each subchart on the key's way."""
    while chart is not None:
        yield chart, parts
        if len(parts) < 2 or parts[0] not in chart.subcharts:
            return
        chart, parts = chart.subcharts[parts[0]], parts[1:]


def _read(file: str) -> str | None:
    try:
        with open(file, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _in_file(file: str, text: str | None, parts: list[str]) -> SetBy | None:
    if text is None:
        return None
    try:
        loader = StrictLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return None
    line = _line_in(data, parts, FieldLines.of_node(node) if node is not None else None)
    return SetBy(f"set in {file}", file, line) if line is not None else None


def _line_in(data, parts: list[str], lines: FieldLines | None = None) -> int | None:
    """The line of the deepest part of `parts` `data` sets, when it sets one of them to a value that
    is not a mapping (or the whole key); None: `data` does not set the key."""
    current, depth = data, 0
    while depth < len(parts) and isinstance(current, dict) and parts[depth] in current:
        current, depth = current[parts[depth]], depth + 1
    if depth == 0 or (depth < len(parts) and isinstance(current, dict)):
        return None
    if lines is None:
        return 0
    return lines.table().get(tuple(parts[:depth]), 0)
