"""Charts and kustomizations as `scan` input: rendered by the real tools, each resource in its own file.

A chart's documents are checked as helm renders them and reported at their template file and line
(`gate/render/helm.py`); a kustomization's resources as kubectl builds them, at the file that holds
each one (`gate/render/kustomize.py`). Checkov reads the rendered documents; it names them by their
place in the tool's output, which is unique, and `by_key` leads back to the resource. `explain()`
adds to a finding about a rendered resource where it was rendered, and for a chart the values keys
behind the offending field (`gate/render/chart_values.py`): the key that writes the field's template
line (only when that line is the field's own), and the keys of the blocks that render it, each with
the values file and line that set it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import yaml

from stateless_pack.gate.checkov.findings import subject_key
from stateless_pack.gate.findings import Finding, Related, Subject
from stateless_pack.gate.render import chart_values, helm, kustomize
from stateless_pack.gate.render.manifest_files import LoadedManifest, ManifestProblem
from stateless_pack.gate.render.template_lines import Template
from stateless_pack.policies.manifest import undotted
from stateless_pack.policies.waivers.model import ResourceRef


@dataclass(frozen=True)
class ChartOptions:
    """How `scan` renders every chart it checks (helm's own flags)."""
    release: str | None = None           # default: the chart's name
    namespace: str = "default"
    values_files: tuple = ()
    set_values: tuple = ()
    kube_version: str | None = None
    timeout: float = helm.TIMEOUT_SECONDS


@dataclass
class _Origin:
    """What `explain` needs about one rendered resource."""
    rendered: Related
    chart: helm.Rendered | None = None
    document: helm.RenderedDocument | None = None
    options: ChartOptions | None = None
    built: kustomize.BuiltResource | None = None


@dataclass
class RenderedInputs:
    subjects: list[Subject] = field(default_factory=list)          # located in templates and overlay files
    checkov: list[LoadedManifest] = field(default_factory=list)    # what Checkov reads, by output place
    by_key: dict = field(default_factory=dict)                     # Checkov's place -> subject
    problems: list[ManifestProblem] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)               # what was rendered, for the report
    _origins: dict = field(default_factory=dict)                   # (resource, file) -> _Origin

    def _add(self, manifest: dict, *, stack: str, file: str, line: int, lines, output: str, output_line: int,
             output_lines, origin: _Origin) -> None:
        subject = Subject(manifest, ResourceRef.of_manifest(manifest, stack=stack), file, line, lines)
        self.subjects.append(subject)
        self.checkov.append(LoadedManifest(manifest, output, output_line, output_lines))
        self.by_key[subject_key(output, output_line)] = subject
        self._origins[(subject.ref.display, file)] = origin

    def add_chart(self, ref: helm.ChartRef, options: ChartOptions, *, helm_bin: Path, stack: str = "") -> None:
        """Render one chart (HelmError if it does not render) and add its documents."""
        release = options.release or _chart_name(ref)
        rendered = helm.template(ref, release=release, namespace=options.namespace, helm=helm_bin,
                                 values_files=options.values_files, set_values=options.set_values,
                                 kube_version=options.kube_version, timeout=options.timeout)
        output = f"<{rendered.command} #{len(self.sources)}>"  # unique per rendering
        self.sources.append(rendered.command)
        for doc in rendered.documents:
            where = f"document {doc.index + 1} ({doc.source or 'no # Source'}), line {doc.line} of its output"
            origin = _Origin(Related("rendered", f"`{rendered.command}`, {where}"),
                             rendered, doc, options)
            self._add(doc.manifest, stack=stack, file=doc.template_file or doc.source or output,
                      line=doc.template_line, lines=doc.template_lines, output=output, output_line=doc.line,
                      output_lines=doc.lines, origin=origin)
        self.problems += rendered.problems

    def add_kustomization(self, directory: str, *, kubectl_bin: Path, stack: str = "",
                          timeout: float = kustomize.TIMEOUT_SECONDS) -> None:
        """Build one kustomization (KustomizeError if it does not build) and add its resources."""
        built = kustomize.located(Path(directory), kubectl=kubectl_bin, timeout=timeout)
        command = f"kubectl kustomize {directory}"
        output = f"<{command} #{len(self.sources)}>"
        self.sources.append(command)
        for resource in built.resources:
            origin = _Origin(Related("rendered", f"`{command}`, line {resource.line} of its output"),
                             built=resource)
            self._add(resource.manifest, stack=stack, file=resource.file or output, line=resource.file_line,
                      lines=resource.file_lines, output=output, output_line=resource.line,
                      output_lines=resource.lines, origin=origin)
        self.problems += [replace(p, file=command) for p in built.problems]

    def explain(self, finding: Finding) -> Finding:
        """`finding` with where its resource was rendered and the values keys behind its field."""
        origin = self._origins.get((finding.resource, finding.file))
        if origin is None:
            return finding
        related = [origin.rendered]
        if origin.document is not None:
            related += _values_related(finding, origin)
        patch = origin.built.patch_of(_path_of(finding)) if origin.built is not None else None
        if patch is not None:
            related.append(Related("patch", f"{patch.file} line {patch.line} wrote this field (a patch listed in "
                                            f"{patch.kustomization})", patch.file, patch.line))
        return replace(finding, related=(*finding.related, *related))


def _chart_name(ref: helm.ChartRef) -> str:
    """helm's name for a release of the chart: the name in its Chart.yaml, else the chart's own."""
    try:
        meta = yaml.safe_load((Path(ref.chart) / "Chart.yaml").read_text(encoding="utf-8"))
        if isinstance(meta, dict) and isinstance(meta.get("name"), str) and meta["name"]:
            return meta["name"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        pass
    return Path(ref.chart.rstrip("/")).name.split(":")[0].removesuffix(".tgz")


def _values_related(finding: Finding, origin: _Origin) -> list[Related]:
    chart, doc = origin.chart, origin.document
    located = chart.chart.source(doc.source) if chart.chart and doc.source else None
    if located is None or not doc.template_line:
        return []
    sub, keys, relative = located
    path = _path_of(finding)
    own_line = doc.template_lines.table().get(tuple(path)) if path else None
    line = own_line or finding.field_line or doc.template_line
    found = []
    for use in chart_values.uses(Template(sub.files[relative]), line, keys):
        if use.how == "writes" and own_line is None:
            continue  # the line is an enclosing field's: what it writes need not be this field
        found.append(_values_entry(use, chart, origin.options))
    return found


def _path_of(finding: Finding) -> tuple:
    """The offending field (the first one Checkov names) as a path."""
    return tuple(undotted(finding.path.split(", ")[0])) if finding.path else ()


def _values_entry(use: chart_values.ValuesUse, chart: helm.Rendered, options: ChartOptions) -> Related:
    by = chart_values.set_by(use.key, chart.chart, values_files=options.values_files,
                             set_values=options.set_values)
    what = "writes this field" if use.how == "writes" else "renders it"
    where = by.where + (f" line {by.line}" if by and by.line else "") if by else \
        "set in no values file (the template's own default applies)"
    return Related("values", f"`{use.key}` {what} (`{use.action}` at line {use.line}); {where}",
                   by.file if by else "", by.line if by else 0)


def split_inputs(paths: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(plain paths, chart folders, kustomization folders) of the paths `scan` was given."""
    plain, charts, kustomizations = [], [], []
    for path in paths:
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, "Chart.yaml")):
            charts.append(path)
        elif os.path.isdir(path) and kustomize.is_kustomization(path):
            kustomizations.append(path)
        else:
            plain.append(path)
    return plain, charts, kustomizations
