"""gate/render/template_lines.py through the real helm: a rendered line gets a template line only
where the alignment leaves no doubt, and a document a template line only where one segment fits."""
from __future__ import annotations

import textwrap
from pathlib import Path

from stateless_pack.gate.render import helm
from stateless_pack.gate.render.template_lines import Template, align
from support.chart_repository import helm_bin


def chart(tmp_path: Path, template: str, values: str = "", helpers: str = "") -> list:
    """The documents of a one-template chart, as `helm template` renders them."""
    root = tmp_path / "c"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (root / "values.yaml").write_text(values)
    (root / "templates" / "t.yaml").write_text(textwrap.dedent(template).lstrip("\n"))
    if helpers:
        (root / "templates" / "_helpers.tpl").write_text(textwrap.dedent(helpers))
    return helm.template(helm.ChartRef(str(root)), release="r", namespace="ns", helm=helm_bin()).documents


def test_lines_written_by_an_include_point_at_the_include(tmp_path):
    [doc] = chart(tmp_path, """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: cm
          labels:
            {{- include "labels" . | nindent 4 }}
        data:
          mode: {{ .Values.mode | quote }}
        """, values="mode: stateless\n", helpers="""
        {{- define "labels" -}}
        a: "1"
        b: "2"
        {{- end -}}
        """)
    assert [doc.template_lines.line_of(p) for p in ("metadata.labels.a", "metadata.labels.b", "data.mode", "data")] \
        == [6, 6, 8, 7]


def test_a_line_two_template_lines_could_have_written_gets_neither(tmp_path):
    [doc] = chart(tmp_path, """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: cm
        data:
        {{- if .Values.a }}
          x: "1"
        {{- else }}
          x: "1"
        {{- end }}
        """, values="a: true\n")
    assert doc.template_lines.line_of("data.x") == 5  # not 6 or 8: the enclosing `data:`
    assert doc.template_line == 1


def test_documents_of_a_range_all_start_at_their_segment(tmp_path):
    docs = chart(tmp_path, """
        # a header the documents do not come from
        ---
        {{- range .Values.names }}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ . }}
        {{- end }}
        """, values="names: [a, b, c]\n")
    assert [(d.manifest["metadata"]["name"], d.template_line, d.template_lines.line_of("metadata.name"))
            for d in docs] == [("a", 5, 8), ("b", 5, 8), ("c", 5, 8)]


def test_a_document_two_segments_fit_equally_has_no_template_line(tmp_path):
    docs = chart(tmp_path, """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Values.first }}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Values.second }}
        """, values="first: a\nsecond: b\n")
    assert [(d.template_line, d.template_lines.line_of("metadata.name")) for d in docs] == [(0, 0), (0, 0)]
    assert all(d.template_file.endswith("t.yaml") for d in docs)  # the file is still known


def test_segments_that_differ_place_each_document(tmp_path):
    docs = chart(tmp_path, """
        apiVersion: v1
        kind: Secret
        metadata:
          name: s
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: cm
        """)
    # helm sorts by kind (the Secret is installed first here too), each still finds its segment
    assert [(d.manifest["kind"], d.template_line, d.template_lines.line_of("metadata.name")) for d in docs] == [
        ("Secret", 1, 4), ("ConfigMap", 6, 9)]


def test_a_multi_line_action_is_one_emitter():
    template = Template('a: 1\nb: {{ include "x" (dict\n  "k" 1) | nindent 2 }}\nc: 3\n')
    alignment = align(template, ["a: 1", "b:", "  y: 1", "  z: 2", "c: 3"])
    assert alignment.lines == {0: 1, 1: 2, 2: 2, 3: 2, 4: 4}
    assert [line.emits for line in template.lines] == [False, True, False, False, False]


def test_alignments_that_cross_are_dropped():
    template = Template("x: 1\ny: 1\n")
    assert align(template, ["y: 1", "x: 1"]).lines == {}


def test_crds_helm_prints_as_they_are_are_placed_document_by_document(tmp_path):
    root = tmp_path / "c"
    (root / "crds").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {0}.example.org\n"
           "spec:\n  group: example.org\n")
    (root / "crds" / "crds.yaml").write_text(crd.format("a") + "---\n" + crd.format("b"))
    documents = helm.template(helm.ChartRef(str(root)), release="r", namespace="ns", helm=helm_bin()).documents
    assert [(d.manifest["metadata"]["name"], d.source, d.template_line, d.template_lines.line_of("spec.group"))
            for d in documents] == [("a.example.org", "c/crds/crds.yaml", 1, 6),
                                    ("b.example.org", "c/crds/crds.yaml", 8, 13)]


def test_a_large_static_document_is_placed_line_by_line_past_the_alignments_limit():
    text = "".join(f"k{i}: {i}\n" for i in range(3000))  # 9 million line pairs: past MAX_CELLS
    alignment = align(Template(text), text.strip().split("\n"))
    assert (alignment.start, alignment.lines[2999]) == (1, 3000)
