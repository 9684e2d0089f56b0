"""Which line of a Helm template produced each line of a rendered document, where that can be told.

helm prints each rendered document with its template's name, not its line. The line is recovered
by aligning the document's lines with the template's, and only where the alignment leaves no doubt:
- The template is cut into segments at its literal `---` lines; a document comes from the segment
  it aligns best with (a tie: its line cannot be told).
- A template line without `{{ }}` matches the same rendered line; a line with an action matches a
  rendered line that starts with the text before its first action (`  sessionAffinity: ` for
  `  sessionAffinity: {{ .Values.service.sessionAffinity }}`); a line that starts with an action
  matches nothing by itself.
- A rendered line is given a template line only when every longest alignment that matches it
  matches it to that line, and no other line so given crosses it.
- The rendered lines left between two given ones come from the one template line in between that
  can emit text (an `include`, a `toYaml`, ...), if there is exactly one; otherwise they are left
  without a line (the caller falls back to the enclosing field's).
A segment without actions that the document repeats line for line (a CRD file) is mapped line by
line. Other documents and templates too large for the alignment (more than `MAX_CELLS` line pairs)
keep only the segment's first line. Helm's own rules the alignment relies on: literal template text is
copied verbatim, `{{-`/`-}}` trim whitespace around an action, and `helm template` prints each
document trimmed of leading and trailing whitespace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

MAX_CELLS = 2_000_000
# A Go template action; comments may hold `}}`, quoted strings too.
ACTION = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}"
                    r"|\{\{(?:\"(?:\\.|[^\"\\])*\"|`[^`]*`|'(?:\\.|[^'\\])*'|[^\"`'}]|\}(?!\}))*\}\}", re.S)
_SILENT = re.compile(r"^\{\{-?\s*(?:/\*.*\*/|(?:if|else|end|range|with|define|break|continue)\b|\$[\w]*\s*:?=)",
                     re.S)


@dataclass(frozen=True)
class Action:
    start: int       # offsets in the template's text
    end: int
    text: str

    @property
    def silent(self) -> bool:
        """Control flow, a comment or a variable: the action itself writes nothing."""
        return bool(_SILENT.match(self.text))

    @property
    def trims_left(self) -> bool:
        return self.text.startswith("{{-")


@dataclass(frozen=True)
class TemplateLine:
    number: int               # 1-based
    text: str
    pattern: str | None       # what a rendered line it produced starts with (or is), None: nothing told
    exact: bool               # the rendered line is `pattern` itself
    emits: bool               # it may write lines no pattern predicts (an action that writes starts here)
    literal: bool = False     # no action touches it


class Template:
    """One template file's lines, actions and `---`-separated segments."""

    def __init__(self, text: str):
        self.text = text
        self.actions = [Action(m.start(), m.end(), m.group(0)) for m in ACTION.finditer(text)]
        self.raw_lines = text.split("\n")
        self.starts, offset = [], 0
        for line in self.raw_lines:
            self.starts.append(offset)
            offset += len(line) + 1

    @cached_property
    def lines(self) -> list[TemplateLine]:
        raw = self.raw_lines
        result, actions = [], iter(self.actions)
        current = next(actions, None)
        for number, (start, line) in enumerate(zip(self.starts, raw), 1):
            end = start + len(line)
            touching = []
            while current is not None and current.start <= end:
                touching.append(current)
                if current.end > end:
                    break  # continues on the next line
                current = next(actions, None)
            next_trims = number < len(raw) and raw[number].lstrip().startswith("{{-")
            result.append(_line(number, line, start, touching, next_trims))
        return result

    @cached_property
    def segments(self) -> list[list[TemplateLine]]:
        segments, current = [], []
        for line in self.lines:
            if line.literal and line.text.strip() == "---":
                segments.append(current)
                current = []
            else:
                current.append(line)
        segments.append(current)
        return [s for s in segments if s]

    def actions_on(self, number: int) -> list[Action]:
        """The actions that touch line `number` (1-based)."""
        start = self.starts[number - 1]
        end = start + len(self.raw_lines[number - 1])
        return [a for a in self.actions if a.start <= end and a.end > start]


def _line(number: int, line: str, start: int, touching: list[Action], next_trims: bool) -> TemplateLine:
    if not touching:
        if not line.strip():
            return TemplateLine(number, line, None, False, False, literal=True)
        return TemplateLine(number, line, line.rstrip(), not next_trims, False, literal=True)
    first = touching[0]
    prefix = line[:first.start - start] if first.start >= start else ""
    if first.trims_left:
        prefix = prefix.rstrip()
    outside = _outside(line, start, touching)
    emits = any(not a.silent for a in touching if a.start >= start) \
        or (not prefix.strip() and bool(outside.strip()))
    return TemplateLine(number, line, prefix if prefix.strip() else None, False, emits)


def _outside(line: str, start: int, actions: list[Action]) -> str:
    kept, position = [], start
    for action in actions:
        kept.append(line[max(0, position - start):max(0, action.start - start)])
        position = action.end
    kept.append(line[max(0, position - start):])
    return "".join(kept)


@dataclass(frozen=True)
class Alignment:
    start: int                 # the template line the document starts at (0: cannot be told)
    lines: dict[int, int]      # rendered line (0-based, within the document) -> template line


def align(template: Template, document: list[str]) -> Alignment:
    """Where the rendered `document` (its lines, as helm printed them) comes from in `template`."""
    copies = [segment for segment in template.segments if _is_copy(segment, document)]
    if len(copies) == 1:  # a segment without actions printed as it is (a CRD file): line by line
        lines = _trimmed(copies[0])
        return Alignment(lines[0].number, {row: line.number for row, line in enumerate(lines)})
    scored = [(_score(segment, document), i) for i, segment in enumerate(template.segments)]
    if not scored:
        return Alignment(0, {})
    best = max(score for score, _ in scored)
    winners = [i for score, i in scored if score == best]
    if best == 0 or len(winners) != 1:
        return Alignment(0, {})
    segment = template.segments[winners[0]]
    lines = _fill_gaps(segment, document, _certain(segment, document))
    first = next((line.number for line in segment if line.pattern is not None or line.emits), segment[0].number)
    return Alignment(lines.get(0, first), lines)


def _trimmed(segment: list[TemplateLine]) -> list[TemplateLine]:
    """The segment without its leading and trailing blank lines (helm trims each document)."""
    filled = [i for i, line in enumerate(segment) if line.text.strip()]
    return segment[filled[0]:filled[-1] + 1] if filled else []


def _is_copy(segment: list[TemplateLine], document: list[str]) -> bool:
    lines = _trimmed(segment)
    return bool(lines) and all(line.literal for line in lines) and len(lines) == len(document) \
        and lines[0].text.strip() == document[0].strip() \
        and all(line.text.rstrip() == row.rstrip() for line, row in zip(lines[1:], document[1:]))


def _matches(document: list[str], columns: list[TemplateLine]) -> list[set[int]]:
    exact: dict[str, set[int]] = {}
    prefixes = []
    for j, line in enumerate(columns):
        if line.exact:
            exact.setdefault(line.pattern, set()).add(j)
        else:
            prefixes.append((j, line.pattern))
    found = []
    for row in document:
        if not row.strip():
            found.append(set())
            continue
        cells = set(exact.get(row.rstrip(), ()))
        cells.update(j for j, prefix in prefixes if row.startswith(prefix))
        found.append(cells)
    return found


def _columns(segment: list[TemplateLine]) -> list[TemplateLine]:
    return [line for line in segment if line.pattern is not None]


def _score(segment: list[TemplateLine], document: list[str]) -> int:
    columns = _columns(segment)
    if len(document) * len(columns) > MAX_CELLS:  # too big to align: how many lines it could explain
        return sum(bool(cells) for cells in _matches(document, columns))
    matches = _matches(document, columns)
    return _lcs_table(matches, len(columns))[len(document)][len(columns)]


def _lcs_table(matches: list[set[int]], width: int) -> list[list[int]]:
    """table[i][j]: the longest alignment of the first i rendered lines with the first j columns."""
    table = [[0] * (width + 1)]
    for cells in matches:
        above, row = table[-1], [0]
        for j in range(width):
            row.append(above[j] + 1 if j in cells else max(above[j + 1], row[j]))
        table.append(row)
    return table


def _certain(segment: list[TemplateLine], document: list[str]) -> dict[int, int]:
    """{rendered line: template line} for the lines every longest alignment places alike."""
    columns = _columns(segment)
    if len(document) * len(columns) > MAX_CELLS:
        return {}
    matches = _matches(document, columns)
    forward = _lcs_table(matches, len(columns))
    backward = _lcs_table([{len(columns) - 1 - j for j in cells} for cells in reversed(matches)], len(columns))
    n, m, total = len(document), len(columns), forward[-1][-1]
    placed = {}
    for i, cells in enumerate(matches):
        options = {j for j in cells if forward[i][j] + 1 + backward[n - 1 - i][m - 1 - j] == total}
        if len(options) == 1:
            placed[i] = next(iter(options))
    crossing = {i for i in placed for k in placed if (i - k) * (placed[i] - placed[k]) < 0}
    return {i: columns[j].number for i, j in placed.items() if i not in crossing}


def _fill_gaps(segment: list[TemplateLine], document: list[str], lines: dict[int, int]) -> dict[int, int]:
    """Rendered lines between two placed ones, given the one emitting template line between them."""
    filled = dict(lines)
    anchors = sorted(lines.items())
    bounds = [(-1, segment[0].number - 1), *anchors, (len(document), segment[-1].number + 1)]
    for (low_row, low_line), (high_row, high_line) in zip(bounds, bounds[1:]):
        if high_row - low_row < 2:
            continue
        emitters = [line.number for line in segment if line.emits and low_line < line.number < high_line]
        if len(emitters) == 1:
            filled.update({row: emitters[0] for row in range(low_row + 1, high_row) if document[row].strip()})
    return filled
