"""gate/render/chart_values.py: the values keys a template line names, and where each is set; only
what the template says in so many words."""
from __future__ import annotations

import textwrap

from stateless_pack.gate.render.chart_files import ChartFiles
from stateless_pack.gate.render.chart_values import set_by, uses
from stateless_pack.gate.render.template_lines import Template

TEMPLATE = Template(textwrap.dedent("""\
    spec:
      {{- if and .Values.sticky (not .Values.legacy) }}
      sessionAffinity: {{ .Values.service.affinity | default "ClientIP" }}
      {{- else if $.Values.fallback }}
      sessionAffinity: None
      {{- end }}
      {{- with .Values.persistence }}
      size: {{ .size }}
      class: {{ $.Values.global.storageClass }}
      {{- end }}
      {{- range .Values.hosts }}
      host: {{ .name }}
      {{- end }}
      {{- $x := .Values.hidden }}
      image: {{ $x }} {{ include "img" . }}
    {{- define "helper" }}
    value: {{ .Values.inHelper }}
    {{- end }}
    """))


def keys(line: int, subchart=()) -> list:
    return [(u.key, u.how, u.line) for u in uses(TEMPLATE, line, subchart)]


def test_a_lines_own_reference_writes_it_and_the_ifs_around_it_render_it():
    assert keys(3) == [("service.affinity", "writes", 3), ("sticky", "renders", 2), ("legacy", "renders", 2)]
    # an else branch depends on its own condition and on the ones before it
    assert keys(5) == [("sticky", "renders", 2), ("legacy", "renders", 2), ("fallback", "renders", 4)]


def test_inside_with_the_dot_is_the_values_key_and_dollar_is_the_root():
    assert keys(8) == [("persistence.size", "writes", 8), ("persistence", "renders", 7)]
    assert keys(9) == [("global.storageClass", "writes", 9), ("persistence", "renders", 7)]


def test_inside_range_the_dot_is_an_item_named_by_nothing():
    assert keys(12) == [("hosts", "renders", 11)]


def test_variables_helpers_and_define_blocks_name_no_key():
    assert keys(15) == []
    assert keys(17) == []


def test_a_subcharts_keys_are_named_as_the_parents_values_set_them_but_globals_stay_global():
    assert keys(8, ("worker",)) == [("worker.persistence.size", "writes", 8), ("worker.persistence", "renders", 7)]
    assert keys(9, ("worker",))[0] == ("global.storageClass", "writes", 9)


def chart() -> ChartFiles:
    worker = ChartFiles("worker", "0.1.0", "", {"values.yaml": "stateful: false\nreplicas: 2\n"})
    return ChartFiles("web", "1.0.0", "/charts/web", {"values.yaml": "service:\n  affinity: ClientIP\n"
                                                                     "worker:\n  replicas: 3\n"},
                      subcharts={"worker": worker})


def test_set_wins_over_files_which_win_over_the_charts_values(tmp_path):
    ours = tmp_path / "ours.yaml"
    ours.write_text("# ours\nservice:\n  affinity: None\n")
    assert set_by("service.affinity", chart()).where == "set in /charts/web/values.yaml"
    assert (set_by("service.affinity", chart()).line) == 2
    found = set_by("service.affinity", chart(), values_files=[str(ours)])
    assert (found.where, found.line) == (f"set in {ours}", 3)
    assert set_by("service.affinity", chart(), values_files=[str(ours)],
                  set_values=["a=1,service.affinity=None"]).where == "set by --set service.affinity"
    assert set_by("service", chart(), set_values=["service.affinity=x"]).where == "set by --set service.affinity"


def test_a_subcharts_key_is_found_in_the_parents_values_then_its_own():
    assert (set_by("worker.replicas", chart()).where, set_by("worker.replicas", chart()).line) == (
        "set in /charts/web/values.yaml", 4)
    assert set_by("worker.stateful", chart()).where == "set in worker/values.yaml"  # inside an archive


def test_a_key_no_file_sets_is_none_and_a_mapping_above_it_does_not_set_it():
    assert set_by("service.port", chart()) is None
    assert set_by("nothing", chart()) is None
