"""policies/gate/reports.py and render.py: the writers, on hand-made findings."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from stateless_pack.gate.findings import Finding
from stateless_pack.gate.program import RegisteredResource, Secret
from stateless_pack.gate import render, reports
from support.paths import FIXTURES as FIXTURE_ROOT

SCHEMA = FIXTURE_ROOT / "gate" / "sarif-schema-2.1.0.json"


def finding(**kw):
    base = dict(rule="no-sticky-service", engine="crossguard", level="mandatory",
                resource="Service/shop/a", message="sessionAffinity is ClientIP")
    return Finding(**{**base, **kw})


FINDINGS = [
    finding(),
    finding(resource="Service/shop/b", waiver="W-0001"),
    finding(rule="CKV_K8S_8", engine="checkov", level="advisory", resource="Deployment/shop/web",
            message="Liveness Probe Should be Configured"),
]


def make_report(findings=FINDINGS, checked=()):
    return reports.Report(findings=list(findings), checked=list(checked), title="t")


def test_table_groups_by_resource_with_status_and_summary():
    out = io.StringIO()
    reports.print_table(make_report(), out)
    text = out.getvalue()
    assert text.index("Service/shop/a") < text.index("Deployment/shop/web")  # blocking first
    assert "BLOCK  no-sticky-service" in text and "WAIVED" in text and "WARN" in text
    assert "waiver: W-0001" in text
    assert text.rstrip().endswith("BLOCKED: 1 blocking, 1 advisory, 1 waived finding(s) on 3 resource(s)")


def test_table_without_findings_passes():
    out = io.StringIO()
    reports.print_table(make_report([]), out)
    assert "No findings." in out.getvalue() and "PASSED: 0 blocking" in out.getvalue()


def test_sarif_levels_and_suppressions_validate():
    sarif = reports.to_sarif(make_report())
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(sarif)
    by_resource = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r
                   for r in sarif["runs"][0]["results"]}
    assert by_resource["Service/shop/a"]["level"] == "error" and "suppressions" not in by_resource["Service/shop/a"]
    assert by_resource["Service/shop/b"]["suppressions"][0]["status"] == "accepted"
    assert by_resource["Deployment/shop/web"]["level"] == "warning"


def test_junit_counts_failures_skips_and_passes():
    checked = [reports.Checked("Service/shop/c", "no-sticky-service"),
               reports.Checked("Service/shop/a", "no-sticky-service")]
    root = reports.to_junit(make_report(checked=checked))
    text = ET.tostring(root, encoding="unicode")
    suite = ET.fromstring(text).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    assert cases[("Service/shop/a", "no-sticky-service")].find("failure") is not None
    assert cases[("Service/shop/b", "no-sticky-service")].find("skipped") is not None
    assert list(cases[("Service/shop/c", "no-sticky-service")]) == []
    assert cases[("Deployment/shop/web", "CKV_K8S_8")].find("failure") is None  # advisory passes


@pytest.mark.parametrize("path, line", [
    ("spec.sessionAffinity", 6), ("spec.ports[1].port", 10), ("spec.ports[1]", 9),
    ("spec.missing.deeper", 4), ("metadata.annotations['a.b/c']", 4), ("", 1)])
def test_yaml_line_of_a_field_path(tmp_path, path, line):
    f = tmp_path / "m.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  selector: {app: a}\n"
                 "  sessionAffinity: ClientIP\n  ports:\n  - port: 80\n  - name: b\n    port: 81\n")
    if path.startswith("metadata.annotations"):
        line = 3
    assert reports.yaml_line(f, path) == line


def k8s(type_, name, inputs, custom=True):
    return RegisteredResource(type=type_, name=name, urn=f"urn:pulumi:dev::p::{type_}::{name}",
                              custom=custom, inputs=inputs)


def test_render_writes_kubernetes_objects_only_with_secrets_redacted(tmp_path):
    resources = [
        k8s("pulumi:pulumi:Stack", "p-dev", {}, custom=False),
        k8s("acme:index:App", "app", {"x": 1}, custom=False),
        k8s("pulumi:providers:kubernetes", "prov", {"kubeconfig": Secret("KUBECONFIG-SECRET")}),
        k8s("kubernetes:core/v1:Secret", "s", {"metadata": {"name": "s"}, "data": {"k": "UEFTUw=="},
                                               "stringData": {"p": "PLAIN-SECRET"}}),
        k8s("kubernetes:core/v1:ConfigMap", "cm", {"metadata": {"name": "cm", "namespace": "x"},
                                                   "data": {"token": Secret("CM-SECRET"), "plain": "ok"}}),
    ]
    items = render.render(render.manifests(resources), tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").glob("*.yaml"))
    assert names == ["configmap_x_cm.yaml", "secret_default_s.yaml"]
    text = "".join(p.read_text() for p in (tmp_path / "out").glob("*.yaml"))
    for secret in ("UEFTUw==", "PLAIN-SECRET", "CM-SECRET", "KUBECONFIG-SECRET"):
        assert secret not in text
    assert "plain: ok" in text and "k: <redacted>" in text and "p: <redacted>" in text
    assert text.startswith("apiVersion: v1\nkind:")
    assert {i.ref for i in items} == {"Secret/default/s", "ConfigMap/x/cm"}
    assert items[0].revealed()["data"]["k"] == "UEFTUw=="  # rules still see the real values


def test_publish_replaces_its_own_folder_and_refuses_others(tmp_path):
    cm = [k8s("kubernetes:core/v1:ConfigMap", "a", {"metadata": {"name": "a"}})]
    render.render(render.manifests(cm), tmp_path / "run")
    render.publish(tmp_path / "run", tmp_path / "out")
    (tmp_path / "out" / "stale.yaml").write_text("kind: Old\n")
    render.publish(tmp_path / "run", tmp_path / "out")
    assert not (tmp_path / "out" / "stale.yaml").exists()
    assert (tmp_path / "out" / "configmap_default_a.yaml").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.yaml").write_text("x: 1\n")
    with pytest.raises(render.RenderError):
        render.publish(tmp_path / "run", tmp_path / "other")
    assert (tmp_path / "other" / "keep.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "out", "run"]  # no staging left behind


def test_two_resources_with_one_object_name_get_two_files(tmp_path):
    cms = [k8s("kubernetes:core/v1:ConfigMap", n, {"metadata": {"name": "same"}}) for n in ("a", "b")]
    items = render.render(render.manifests(cms), tmp_path / "out")
    assert sorted(i.file.name for i in items) == ["configmap_default_same-2.yaml", "configmap_default_same.yaml"]
