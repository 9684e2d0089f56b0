"""policies/gate/output/reports.py and render.py: the writers, on hand-made findings."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from stateless_pack.gate.findings import Finding
from stateless_pack.gate.output import reports
from stateless_pack.gate.program.runner import RegisteredResource
from stateless_pack.gate.program.values import Secret
from stateless_pack.gate.render import manifests as render
from stateless_pack.policies.catalog import rule_by_name
from stateless_pack.policies.waivers.model import ResourceRef
from support.paths import FIXTURES as FIXTURE_ROOT

SCHEMA = FIXTURE_ROOT / "gate" / "sarif-schema-2.1.0.json"


def ref(display: str) -> ResourceRef:
    kind, namespace, name = display.split("/", 2)
    return ResourceRef(kind=kind, namespace=namespace, name=name)


def finding(**kw):
    """A finding about a checked resource (its `subject`), unless `subject=None` is given."""
    base = dict(rule="no-sticky-service", engine="crossguard", level="mandatory",
                resource="Service/shop/a", message="sessionAffinity is ClientIP")
    merged = {**base, **kw}
    if "subject" not in merged:
        merged["subject"] = ref(merged["resource"])
    return Finding(**merged)


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
    assert text.rstrip().endswith("BLOCKED: 1 blocking, 1 advisory, 1 waived finding(s); "
                                  "3 resource(s) checked, 3 with findings")


def test_the_summary_counts_the_resources_checked_without_findings():
    checked = [reports.Checked("Deployment/shop/clean", "no-sticky-service"),
               reports.Checked("Service/shop/a", "no-host-path")]
    out = io.StringIO()
    reports.print_table(make_report(findings=[], checked=checked), out)
    assert out.getvalue().rstrip().endswith(
        "PASSED: 0 blocking, 0 advisory, 0 waived finding(s); 2 resource(s) checked, 0 with findings")
    out = io.StringIO()
    reports.print_table(make_report(checked=checked), out)
    assert out.getvalue().rstrip().endswith("; 4 resource(s) checked, 3 with findings")
    out = io.StringIO()  # the command knows how many resources every engine judged
    reports.print_table(reports.Report(findings=FINDINGS, checked=checked, resources=19), out)
    assert out.getvalue().rstrip().endswith("; 19 resource(s) checked, 3 with findings")


def test_findings_not_about_a_checked_resource_are_counted_apart_never_as_resources():
    """Was "on 6 of 2 resource(s)": every distinct `resource` text counted as a resource with findings."""
    findings = [finding(), finding(path="spec.ports[0]", message="second"),
                finding(rule="manifest-file", engine="scan", resource="broken.yaml", subject=None),
                finding(rule="waiver-registry-invalid", engine="waivers", resource="waivers.yaml", subject=None),
                finding(rule="their-policy", resource="stack", subject=None)]
    report = reports.Report(findings=findings, resources=2, title="t")
    assert reports.summary_line(report) == ("BLOCKED: 5 blocking, 0 advisory, 0 waived finding(s); "
                                            "2 resource(s) checked, 1 with findings; "
                                            "3 finding(s) not about a checked resource")
    summary = reports.to_json(report)["summary"]
    assert (summary["findings"], summary["resources"], summary["resources_with_findings"]) == (5, 2, 1)


HOSTILE = "Service/shop/web\x1b[8m\rPASSED\u202egnp.\u2066x\x07\x9b"


def test_hostile_names_are_escaped_in_the_table_and_junit_but_kept_in_json_and_sarif():
    findings = [finding(resource=HOSTILE, message="sessionAffinity of \x1b]0;title\x07 is ClientIP",
                        file="m\x1b[2J.yaml", line=1, path="spec.\u202esessionAffinity",
                        fix="drop \x1b[31m it", waiver="")]
    report = reports.Report(findings=findings, title="stateless-pack preview: p\x1b[8m (stack dev)", resources=1)
    out = io.StringIO()
    reports.print_table(report, out)
    table = out.getvalue()
    for raw in ("\x1b", "\r", "\u202e", "\u2066", "\x07", "\x9b"):
        assert raw not in table, repr(raw)
    assert "Service/shop/web\\x1b[8m\\x0dPASSED\\u202egnp.\\u2066x\\x07\\x9b  (m\\x1b[2J.yaml:1)" in table
    assert "p\\x1b[8m (stack dev)" in table.splitlines()[0]
    assert table.rstrip().endswith("1 resource(s) checked, 1 with findings")
    assert reports.to_json(report)["findings"][0]["resource"] == HOSTILE
    assert json.loads(reports.json_text(report))["findings"][0]["message"] == findings[0].message
    sarif = reports.to_sarif(report)["runs"][0]["results"][0]
    assert sarif["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == HOSTILE
    junit = reports.junit_text(report)
    assert ET.fromstring(junit.encode()).find("testsuite/testcase").get("classname") == (
        "Service/shop/web\\x1b[8m\\x0dPASSED\\u202egnp.\\u2066x\\x07\\x9b")
    assert "\x1b" not in junit and "\u202e" not in junit


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


def test_sarif_region_is_the_field_line_else_the_resource_line_and_rules_link_their_docs():
    findings = [finding(file="m.yaml", line=7, field_line=14, path="spec.sessionAffinity"),
                finding(resource="Service/shop/b", file="m.yaml", line=20),
                finding(rule="CKV_K8S_21", engine="checkov", checkov_id="CKV_K8S_21", resource="ConfigMap/default/c",
                        file="m.yaml", fix="https://docs.example.org/ckv-k8s-21", message="The default namespace")]
    sarif = reports.to_sarif(reports.Report(findings=findings, rules=reports.rule_help(), title="t"))
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(sarif)
    regions = sorted((r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
                      r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in sarif["runs"][0]["results"])
    assert regions == [("ConfigMap/default/c", 1), ("Service/shop/a", 14), ("Service/shop/b", 20)]
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    sticky = rules["no-sticky-service"]
    assert sticky["helpUri"].endswith("docs/policies.md#no-sticky-service")
    assert sticky["fullDescription"]["text"] == rule_by_name("no-sticky-service").description
    assert rules["stale-waiver"]["helpUri"].endswith("#stale-waiver")
    assert rules["not-checked-by-checkov"]["helpUri"].endswith("#not-checked-by-checkov")
    builtin = rules["CKV_K8S_21"]
    assert builtin["fullDescription"]["text"] == "The default namespace should not be used"
    assert builtin["helpUri"] == "https://docs.example.org/ckv-k8s-21"


def test_levels_reach_sarif_and_junit():
    findings = [finding(level="remediate"), finding(resource="Service/shop/b", level="advisory", file="f.yaml", line=3)]
    sarif = reports.to_sarif(make_report(findings))
    assert sorted(r["level"] for r in sarif["runs"][0]["results"]) == ["error", "warning"]
    suite = reports.to_junit(make_report(findings)).find("testsuite")
    cases = {c.get("classname"): c for c in suite.findall("testcase")}
    assert cases["Service/shop/a"].find("failure").get("type") == "remediate"
    assert cases["Service/shop/b"].find("system-out").text == "advisory [crossguard] f.yaml:3: sessionAffinity is ClientIP"


def test_table_shows_file_line_and_field_line():
    out = io.StringIO()
    reports.print_table(make_report([finding(file="m.yaml", line=7, field_line=14, path="spec.sessionAffinity")]), out)
    text = out.getvalue()
    assert "Service/shop/a  (m.yaml:7)" in text and "[spec.sessionAffinity, line 14]" in text


def test_table_colours_only_when_asked():
    plain, coloured = io.StringIO(), io.StringIO()
    reports.print_table(make_report(), plain)
    reports.print_table(make_report(), coloured, color=True)
    assert "\033[" not in plain.getvalue()
    assert "\033[31mBLOCK " in coloured.getvalue() and "\033[33mWARN  " in coloured.getvalue()


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
    assert {ResourceRef.of_manifest(i.manifest).display for i in items} == {"Secret/default/s", "ConfigMap/x/cm"}
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


def test_sarif_points_at_the_program_line_with_the_rendered_manifest_related(tmp_path):
    program, rendered = tmp_path / "infra" / "__main__.py", tmp_path / "out" / "m" / "service_shop_a.yaml"
    f = finding(file=str(rendered), line=1, field_line=9, path="spec.sessionAffinity",
                source_file=str(program), source_line=42, urn="urn:pulumi:dev::p::kubernetes:core/v1:Service::a")
    sarif = reports.to_sarif(reports.Report(findings=[f], title="t"), root=tmp_path)
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(sarif)
    run = sarif["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}
    [result] = run["results"]
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "infra/__main__.py", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 42}}
    [related] = result["relatedLocations"]
    assert related["physicalLocation"] == {
        "artifactLocation": {"uri": "out/m/service_shop_a.yaml", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 9}}
    out = io.StringIO()
    reports.print_table(reports.Report(findings=[f], title="t"), out)
    assert f"Service/shop/a  ({program}:42; rendered {rendered})" in out.getvalue()
    assert "[spec.sessionAffinity, rendered line 9]" in " ".join(out.getvalue().split())


def test_sarif_uris_outside_the_repository_are_absolute_and_names_are_percent_encoded(tmp_path):
    inside = finding(file=str(tmp_path / "my manifests" / "a#1.yaml"), line=3)
    outside = finding(resource="Service/shop/b", file="/elsewhere/b.yaml", line=3)
    results = reports.to_sarif(reports.Report(findings=[inside, outside], title="t"), root=tmp_path)["runs"][0]["results"]
    uris = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]:
            r["locations"][0]["physicalLocation"]["artifactLocation"] for r in results}
    assert uris == {"Service/shop/a": {"uri": "my%20manifests/a%231.yaml", "uriBaseId": "%SRCROOT%"},
                    "Service/shop/b": {"uri": "file:///elsewhere/b.yaml"}}


def test_fingerprints_follow_the_finding_not_its_lines_or_files():
    base = finding(urn="urn:pulumi:dev::p::kubernetes:core/v1:Service::a", path="spec.sessionAffinity",
                   file="/tmp/stateless-pack-preview-x1/manifests/a.yaml", line=1, field_line=9)
    moved = finding(urn=base.urn, path=base.path, file="/tmp/stateless-pack-preview-y2/manifests/a.yaml",
                    line=4, field_line=30, source_file="/repo/__main__.py", source_line=77, engines=("crossguard",))
    assert reports.fingerprint(base) == reports.fingerprint(moved)
    others = [finding(urn=base.urn, path="spec.ports"), finding(urn=base.urn, path=base.path, rule="no-host-path"),
              finding(urn=base.urn.replace("::a", "::b"), path=base.path)]
    assert len({reports.fingerprint(f) for f in [base, *others]}) == 4
    # findings about no resource (two registry problems in one file) are told apart by what they say
    problems = [finding(rule="waiver-registry", resource="waivers.yaml", subject=None, message=m) for m in "ab"]
    assert reports.fingerprint(problems[0]) != reports.fingerprint(problems[1])
    sarif = reports.to_sarif(make_report([base]))
    assert sarif["runs"][0]["results"][0]["partialFingerprints"] == {"statelessPack/v1": reports.fingerprint(base)}


def test_one_finding_found_by_two_engines_shows_both_everywhere():
    both = finding(engines=("rules", "checkov"), file="m.yaml", line=2)
    report = reports.Report(findings=[both], resources=1, title="t")
    out = io.StringIO()
    reports.print_table(report, out)
    assert "ENGINES" in out.getvalue() and " rules,checkov " in out.getvalue()
    assert out.getvalue().rstrip().endswith("BLOCKED: 1 blocking, 0 advisory, 0 waived finding(s); "
                                            "1 resource(s) checked, 1 with findings")
    assert reports.to_json(report)["findings"][0]["engines"] == ["rules", "checkov"]
    assert reports.to_sarif(report)["runs"][0]["results"][0]["properties"]["engines"] == ["rules", "checkov"]
    assert "blocking [rules,checkov] m.yaml:2" in reports.junit_text(report).replace("mandatory [", "blocking [")
