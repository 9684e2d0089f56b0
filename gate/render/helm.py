"""Rendering a Helm chart with the real `helm template`: each document with its template file and line.

One entry point, `template()`, for `scan` and for the gate's Helm resources. helm runs as a child of
`gate/processes.py` (its own process group, a deadline, stopped on SIGTERM/SIGINT). Values given as
a mapping (a program's `values`) reach helm over its stdin (`--values -`, after the files, so they win
over them; `--set` wins over both, as in helm): never written to disk. A chart that is not a local
folder or archive (a name in `--repo`, `repo/name`, `oci://...`) is fetched first with `helm pull`
into a private folder, so that its templates can be read for the lines; a chart that cannot be
fetched or does not render is a `HelmError` with helm's own message, never an empty chart.

Each rendered document is named by helm's `# Source: <chart>/templates/<file>` comment; its line in
that template, and the line of each of its fields, come from `gate/render/template_lines.py` where
they can be told (0 where they cannot).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from stateless_pack.gate import processes
from stateless_pack.gate.render.chart_files import ChartFiles, read_chart
from stateless_pack.gate.render.manifest_files import (
    EMPTY,
    ERROR,
    FieldLines,
    LoadedManifest,
    ManifestProblem,
    load_text,
)
from stateless_pack.gate.render.template_lines import Template, align
from stateless_pack.policies import safe_files

TIMEOUT_SECONDS = 300.0
SOURCE_PREFIX = "# Source: "
_HELP_HINTS = ("Use --debug flag to render out invalid YAML",)  # helm's advice about its own CLI


class HelmError(Exception):
    """helm could not fetch or render the chart: str() is helm's own message, trimmed."""


@dataclass(frozen=True)
class ChartRef:
    """A chart as helm names it. The repository credentials go to helm as its own flags
    (`--username`, `--password`: helm has no other way for `pull`/`template`), so they are on
    helm's command line while it runs; they never appear in an error message."""
    chart: str                          # local folder, .tgz, a chart name in `repo`, `repo/name`, or oci://...
    version: str | None = None
    repo: str | None = None             # repository URL (helm --repo)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_tls_verify: bool = False
    plain_http: bool = False

    def local_path(self, cwd: Path | None = None) -> str | None:
        """The chart's folder or archive on disk (as given), or None when helm must fetch it: helm's
        own rule (an existing path, or a path that is absolute or starts with `.`, is local)."""
        if self.repo or self.chart.startswith("oci://"):
            return None
        if (Path(cwd or ".") / self.chart).exists() or os.path.isabs(self.chart) or self.chart.startswith("."):
            return self.chart
        return None

    def repository_flags(self) -> list[str]:
        flags = []
        for flag, value in (("--repo", self.repo), ("--version", self.version), ("--username", self.username),
                            ("--password", self.password), ("--ca-file", self.ca_file),
                            ("--cert-file", self.cert_file), ("--key-file", self.key_file)):
            if value:
                flags += [flag, value]
        if self.insecure_skip_tls_verify:
            flags.append("--insecure-skip-tls-verify")
        if self.plain_http:
            flags.append("--plain-http")  # helm 3.13+: only passed when asked for
        return flags

    def described(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.chart}{version}" + (f" from {self.repo}" if self.repo else "")


@dataclass(frozen=True)
class RenderedDocument:
    manifest: dict
    source: str                 # helm's template name: "webapp/templates/x.yaml" ("" if helm gave none)
    line: int                   # 1-based line in `Rendered.text` where the manifest starts
    lines: FieldLines = field(compare=False, repr=False)           # each field's line in `Rendered.text`
    template_file: str = ""     # the template on disk ("" when it is inside an archive or unknown)
    template_line: int = 0      # where the document starts in its template (0: cannot be told)
    template_lines: FieldLines = field(default_factory=FieldLines, compare=False, repr=False)  # in the template
    index: int = 0              # its position among the documents helm printed (0-based)


@dataclass(frozen=True)
class Rendered:
    text: str                               # helm's whole output
    documents: list[RenderedDocument]
    problems: list[ManifestProblem] = field(default_factory=list)  # a document that is not a manifest
    chart: ChartFiles | None = None         # the chart's own files (None: they could not be read)
    command: str = ""                       # the helm command line, without credentials


def template(ref: ChartRef, *, release: str, namespace: str, helm: Path,
             values_files: Sequence[str] = (), values: Mapping | None = None,
             set_values: Sequence[str] = (), kube_version: str | None = None,
             include_crds: bool = True, dependency_update: bool = False, timeout: float = TIMEOUT_SECONDS,
             cwd: Path | None = None, include_hooks: bool = True, skip_tests: bool = False,
             api_versions: Sequence[str] = (), locate: bool = True) -> Rendered:
    """`helm template RELEASE CHART --namespace NAMESPACE ...`, parsed; HelmError if helm fails.
    `include_hooks=False` is `--no-hooks` (hook resources left out), `skip_tests` `--skip-tests`.
    `locate=False`: the documents are not placed in their templates (no `chart`, no template
    lines; aligning them is the costly part), unless a document is not a manifest."""
    stdin = _values_json(values) if values is not None else None
    deadline = _Deadline(timeout)
    with processes.private_folder("stateless-pack-helm-") as work:
        chart = ref.local_path(cwd) or _pull(ref, helm, work, deadline, cwd)
        options = ["--namespace", namespace]
        for file in values_files:
            _check_values_file(file, cwd)
            options += ["--values", file]
        if stdin is not None:
            options += ["--values", "-"]
        for value in set_values:
            options += ["--set", value]
        if kube_version:
            options += ["--kube-version", kube_version]
        if include_crds:
            options.append("--include-crds")
        if dependency_update:  # apart: `template --dependency-update` prints its progress into the manifests
            _run([str(helm), "dependency", "update", chart], None, deadline, cwd,
                 f"update the dependencies of {ref.described()}")
        options += [flag for flag, wanted in (("--no-hooks", not include_hooks), ("--skip-tests", skip_tests))
                    if wanted]
        for api_version in api_versions:
            options += ["--api-versions", api_version]
        command = [str(helm), "template", release, chart, *options]
        output = _run(command, stdin, deadline, cwd, f"render {ref.described()}")
        shown = f"helm template {release} {ref.chart}"
        if not locate:
            rendered = parse(output, None, command=shown)
            if not any(p.kind == ERROR for p in rendered.problems):
                return rendered  # an ERROR is named by its template line: read the chart for it
        files = read_chart(str(Path(cwd) / chart) if cwd else chart)
        return parse(output, files, command=shown)


def _check_values_file(file: str, cwd: Path | None) -> None:
    """helm reads a values file whole, and blocks on a FIFO: only a regular file of bounded size
    (`safe_files`) goes to it. A URL and a missing file are left to helm's own words."""
    if "://" in file:
        return
    try:
        safe_files.read_bytes(Path(cwd or ".") / file)
    except FileNotFoundError:
        return
    except OSError as err:
        raise HelmError(f"values file {file}: {err.strerror or err}") from None


def _values_json(values: Mapping) -> str:
    try:
        return json.dumps(values, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise HelmError(f"the chart's values cannot be handed to helm: {err}") from None


class _Deadline:
    """One deadline for every helm call of a `template()`."""

    def __init__(self, seconds: float):
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def _pull(ref: ChartRef, helm: Path, work: Path, deadline: _Deadline, cwd: Path | None) -> str:
    """Fetch a chart helm must download into `work`; the archive's path."""
    target = work / "chart"
    target.mkdir()
    _run([str(helm), "pull", ref.chart, *ref.repository_flags(), "--destination", str(target)],
         None, deadline, cwd, f"fetch {ref.described()}", secret=ref.password)
    archives = sorted(target.glob("*.tgz"))
    if len(archives) != 1:
        raise HelmError(f"cannot fetch {ref.described()}: helm pull wrote {len(archives)} chart archives")
    return str(archives[0])


def _run(command: list[str], stdin: str | None, deadline: _Deadline, cwd: Path | None, what: str,
         secret: str | None = None) -> str:
    env = {**os.environ, "NO_COLOR": "1"}
    try:
        if deadline.left() <= 0:
            raise subprocess.TimeoutExpired(command, 0)
        done = processes.run(command, input=stdin, timeout=deadline.left(), cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        raise HelmError(f"cannot {what}: helm did not finish within {deadline.seconds:g}s") from None
    except OSError as err:
        raise HelmError(f"cannot {what}: cannot run {command[0]}: {err.strerror or err}") from None
    if done.returncode != 0:
        raise HelmError(f"cannot {what}: {_message(done.stderr or done.stdout, secret)}")
    return done.stdout


def _message(text: str, secret: str | None) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() not in _HELP_HINTS]
    message = "\n".join(lines).strip()
    message = message[len("Error: "):] if message.startswith("Error: ") else message
    if secret:
        message = message.replace(secret, "<redacted>")
    return message or "helm failed without a message"


# ---- reading helm's output ---------------------------------------------------------------------

@dataclass
class _Block:
    source: str
    first: int          # 0-based index in the output's lines of the document's first content line
    lines: list[str]


def _blocks(text: str) -> list[_Block]:
    """helm's output cut at each `---` + `# Source:` pair: one block per rendered template document;
    a plain `---` (inside a CRD file, which helm prints as it is) starts a block of the same source."""
    raw = text.split("\n")
    blocks, i = [], 0
    current = _Block("", 0, [])
    while i < len(raw):
        if raw[i].rstrip() == "---" and i + 1 < len(raw) and raw[i + 1].startswith(SOURCE_PREFIX):
            blocks.append(current)
            current = _Block(raw[i + 1][len(SOURCE_PREFIX):].strip(), i + 2, [])
            i += 2
            continue
        if raw[i].rstrip() == "---":
            blocks.append(current)
            current = _Block(current.source, i + 1, [])
            i += 1
            continue
        current.lines.append(raw[i])
        i += 1
    blocks.append(current)
    return [b for b in blocks if any(line.strip() for line in b.lines)]


def parse(text: str, chart: ChartFiles | None, *, command: str = "") -> Rendered:
    """helm's output as documents, each placed in its template where `chart` allows."""
    loaded, problems = load_text(text, "<helm template>")
    problems = [p for p in problems if p.kind != EMPTY]  # no documents: the caller decides
    blocks = _blocks(text)
    templates: dict[str, Template] = {}
    documents, kept_problems = [], []
    for index, item in enumerate(loaded):
        block = _block_at(blocks, item.line)
        documents.append(_document(item, block, index, chart, templates))
    for problem in problems:
        block = _block_at(blocks, problem.line)
        file, line = _placed(block, problem.line, chart, templates) if block else ("", 0)
        kept_problems.append(ManifestProblem(file or (block.source if block else "<helm template>"), line,
                                             problem.message, problem.kind, problem.fix))
    return Rendered(text, documents, kept_problems, chart, command)


def _block_at(blocks: list[_Block], line: int) -> _Block | None:
    """The block holding 1-based output line `line`."""
    found = None
    for block in blocks:
        if block.first < line:
            found = block
    return found


def _template_of(block: _Block, chart: ChartFiles | None, templates: dict) -> tuple[str, Template] | None:
    located = chart.source(block.source) if chart and block.source else None
    if located is None:
        return None
    sub, _, relative = located
    if block.source not in templates:
        templates[block.source] = Template(sub.files[relative])
    return sub.file_path(relative), templates[block.source]


def _document(item: LoadedManifest, block: _Block | None, index: int, chart: ChartFiles | None,
              templates: dict) -> RenderedDocument:
    if block is None:
        return RenderedDocument(item.manifest, "", item.line, item.lines, index=index)
    placed = _template_of(block, chart, templates)
    if placed is None:
        return RenderedDocument(item.manifest, block.source, item.line, item.lines, index=index)
    file, template = placed
    alignment = _alignment(block, template)
    offset = block.first + _leading_blank(block) + 1  # output line of the document's first line
    by_output = {offset + row: line for row, line in alignment.lines.items()}
    table = {path: by_output[line] for path, line in item.lines.table().items() if line in by_output}
    table[()] = by_output.get(item.line, alignment.start)
    return RenderedDocument(item.manifest, block.source, item.line, item.lines, file, table[()],
                            FieldLines(table), index)


def _alignment(block: _Block, template: Template):
    start = _leading_blank(block)
    document = block.lines[start:]
    while document and not document[-1].strip():
        document = document[:-1]
    return align(template, document)


def _leading_blank(block: _Block) -> int:
    return next((i for i, line in enumerate(block.lines) if line.strip()), 0)


def _placed(block: _Block, line: int, chart: ChartFiles | None, templates: dict) -> tuple[str, int]:
    placed = _template_of(block, chart, templates)
    if placed is None:
        return "", 0
    file, template = placed
    alignment = _alignment(block, template)
    row = line - (block.first + _leading_blank(block) + 1)
    return file or block.source, alignment.lines.get(row, alignment.start)
