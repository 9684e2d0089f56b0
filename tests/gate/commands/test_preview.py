"""`stateless-pack preview` end to end: real program run, real pack over gRPC, real Checkov."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest

from stateless_pack.gate.cli import main
from support.paths import FIXTURES as FIXTURE_ROOT
from support.isolation import isolated  # noqa: F401 - an autouse fixture

FIXTURES = FIXTURE_ROOT / "gate"
SECRETS = ("s3cr3t-greeting-from-config", "plain-session-key-in-stringdata")


def preview(capsys, *args):
    code = main(["preview", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err



@pytest.fixture(scope="module")
def violations_run(tmp_path_factory):
    """One full run over the violations fixture with every output."""
    out = tmp_path_factory.mktemp("violations")
    mp = pytest.MonkeyPatch()
    registry = out / "waivers.yaml"
    registry.write_text("version: 1\nwaivers: []\n")
    mp.setenv("STATELESS_PACK_WAIVERS", str(registry))
    import io
    import contextlib

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["preview", str(FIXTURES / "violations"), "--out", str(out / "manifests"),
                     "--json", str(out / "r.json"), "--sarif", str(out / "r.sarif"),
                     "--junit", str(out / "r.xml"), "--state-export", str(out / "state.json")])
    mp.undo()
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_clean_program_passes(capsys, tmp_path):
    code, out, err = preview(capsys, FIXTURES / "clean-app", "--out", tmp_path / "m", "--json", tmp_path / "r.json")
    assert code == 0, out + err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["findings"] == [] and report["summary"]["passed"] is True
    assert report["summary"]["resources"] == 4  # the four manifests below: a clean run says what it checked
    assert "PASSED" in out and "; 4 resource(s) checked, 0 with findings" in out
    assert sorted(p.name for p in (tmp_path / "m").glob("*.yaml")) == [
        "deployment_shop_web.yaml", "networkpolicy_shop_web.yaml",
        "poddisruptionbudget_shop_web-pdb.yaml", "service_shop_web.yaml"]


def test_violations_block_with_exactly_the_expected_findings(violations_run):
    code, out, _, folder = violations_run
    assert code == 1
    findings = json.loads((folder / "r.json").read_text())["findings"]
    got = sorted((f["rule"], f["engines"], f["resource"], f["blocking"]) for f in findings)
    assert got == [  # one finding each: the pack (crossguard) and Checkov's CKV_STL_1 agree on the Service
        ("CKV2_K8S_6", ["checkov"], "Deployment/shop/no-netpol", True),
        ("no-sticky-service", ["crossguard", "checkov"], "Service/shop/sticky", True),
    ]
    pack = next(f for f in findings if f["engine"] == "crossguard")
    assert pack["path"] == "spec.sessionAffinity"
    assert pack["urn"] == "urn:pulumi:dev::violations::fixtures:index:Storefront$kubernetes:core/v1:Service::sticky"
    assert pack["file"].endswith("service_shop_sticky.yaml") and Path(pack["file"]).is_file()
    assert pack["fix"].startswith("Set spec.sessionAffinity to None")
    assert "BLOCKED: 2 blocking" in out and "7 resource(s) checked, 2 with findings" in out
    assert "Service/shop/sticky  (" in out and "crossguard,checkov" in out


def test_sarif_is_valid_sarif_2_1_0(violations_run):
    *_, folder = violations_run
    sarif = json.loads((folder / "r.sarif").read_text())
    schema = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["CKV2_K8S_6", "no-sticky-service"]
    assert {r["level"] for r in results} == {"error"}
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["no-sticky-service"]["help"]["text"].startswith("Set spec.sessionAffinity to None")
    sticky = next(r for r in results if r["ruleId"] == "no-sticky-service")
    assert sticky["properties"]["engines"] == ["crossguard", "checkov"]
    # the alert lands on the program line that created the Service, in a file of the repository
    root = Path(sarif["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"].removeprefix("file://"))
    program = sticky["locations"][0]["physicalLocation"]
    assert program["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert root / program["artifactLocation"]["uri"] == FIXTURES / "violations" / "__main__.py"
    source = (FIXTURES / "violations" / "__main__.py").read_text().splitlines()
    assert source[program["region"]["startLine"] - 1].strip().startswith('k8s.core.v1.Service("sticky"')
    # the rendered manifest the engines read is related information, at the field's line
    rendered = sticky["relatedLocations"][0]["physicalLocation"]
    assert rendered["artifactLocation"]["uri"].endswith("service_shop_sticky.yaml")
    lines = Path(folder / "manifests" / "service_shop_sticky.yaml").read_text().splitlines()
    assert lines[rendered["region"]["startLine"] - 1].strip().startswith("sessionAffinity:")


def test_sarif_schema_rejects_a_broken_log():
    """The vendored schema really checks: the validator is not vacuous."""
    schema = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate({"version": "2.1.0", "runs": [{"results": []}]})


def test_junit_parses_with_the_right_counts(violations_run):
    *_, folder = violations_run
    root = ET.parse(folder / "r.xml").getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    failed = sorted((c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None)
    assert failed == [("Deployment/shop/no-netpol", "CKV2_K8S_6"), ("Service/shop/sticky", "no-sticky-service")]
    assert suite.get("failures") == "2" and suite.get("tests") == str(len(cases))
    assert ("Service/shop/sticky", "no-sticky-service") in {(c.get("classname"), c.get("name")) for c in cases}


def test_no_secret_anywhere(violations_run):
    code, out, err, folder = violations_run
    texts = {"stdout": out, "stderr": err}
    for path in folder.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(encoding="utf-8")
    assert any("manifests" in name for name in texts) and len(texts) >= 8
    for name, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {name}"
    rendered = (folder / "manifests" / "secret_shop_session-key.yaml").read_text()
    # stringData is a secret output as a whole: its key names are part of the secret
    assert "stringData: <redacted>" in rendered and "key:" not in rendered
    assert "value: <redacted>" in (folder / "manifests" / "deployment_shop_storefront.yaml").read_text()


def test_broken_program_exits_2_with_its_error(capsys, tmp_path):
    code, out, err = preview(capsys, FIXTURES / "broken-program", "--out", tmp_path / "m")
    assert code == 2
    assert "the program failed" in err and "fixture program broken on purpose" in err
    assert "PASSED" not in out


def test_secure_config_read_exits_2_naming_the_key(capsys, tmp_path):
    code, _, err = preview(capsys, FIXTURES / "secure-config", "--out", tmp_path / "m")
    assert code == 2 and "secure-config:dbPassword" in err


def test_broken_pack_exits_2(capsys, tmp_path):
    code, out, err = preview(capsys, FIXTURES / "clean-app", "--out", tmp_path / "m",
                             "--pack", FIXTURES / "broken-pack")
    assert code == 2
    assert "policy pack failed" in err and "fixture pack broken on purpose" in err
    assert "PASSED" not in out


def test_missing_checkov_exits_2(capsys, tmp_path):
    code, out, err = preview(capsys, FIXTURES / "clean-app", "--out", tmp_path / "m",
                             "--checkov", tmp_path / "no-checkov")
    assert code == 2 and "Checkov" in err and "no-checkov" in err
    assert "PASSED" not in out


def test_missing_checkov_from_the_environment_exits_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STATELESS_PACK_CHECKOV", str(tmp_path / "gone" / "checkov"))
    code, _, err = preview(capsys, FIXTURES / "clean-app", "--out", tmp_path / "m")
    assert code == 2 and "gone" in err


def test_refuses_to_render_into_a_foreign_folder(capsys, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mine.txt").write_text("not the gate's")
    code, _, err = preview(capsys, FIXTURES / "clean-app", "--out", tmp_path / "m")
    assert code == 2 and "not empty" in err
    assert (tmp_path / "m" / "mine.txt").is_file()


def _registry(path: Path, waivers: str) -> Path:
    path.write_text("version: 1\nwaivers:\n" + waivers)
    return path


def test_one_waiver_covers_checkov_findings(capsys, tmp_path, monkeypatch):
    today = date.today()
    registry = _registry(tmp_path / "w.yaml", f"""\
  - id: W-0100
    rules: [CKV2_K8S_6]
    scope: {{stack: dev, kind: Deployment, namespace: shop, name: no-netpol}}
    reason: The legacy service gets its NetworkPolicy with ticket NET-1.
    approved_by: max.mustermann@example.org
    approver_role: platform-lead
    reference: NET-1
    created: {today - timedelta(days=1)}
    expires: {today + timedelta(days=30)}
  - id: W-0101
    rules: [CKV_K8S_8]
    scope: {{stack: dev, kind: Deployment, name: gone}}
    reason: Covers a Deployment that no longer exists.
    approved_by: max.mustermann@example.org
    approver_role: platform-lead
    reference: NET-2
    created: {today - timedelta(days=1)}
    expires: {today + timedelta(days=30)}
""")
    monkeypatch.setenv("STATELESS_PACK_WAIVERS", str(registry))
    code, out, _ = preview(capsys, FIXTURES / "violations", "--out", tmp_path / "m", "--json", tmp_path / "r.json")
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    netpol = next(f for f in findings if f["rule"] == "CKV2_K8S_6")
    assert netpol["waiver"] == "W-0100" and netpol["blocking"] is False
    assert "WAIVED" in out and "waiver: W-0100" in out
    assert code == 1  # the sticky Service still blocks
    stale = [f["message"] for f in findings if f["rule"] == "stale-waiver"]
    assert len(stale) == 1 and "W-0101" in stale[0]  # once, and W-0100 (used by Checkov) is not stale


def test_unbacked_skip_annotation_blocks(capsys, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (app / name).write_text((FIXTURES / "clean-app" / name).read_text())
    source = (FIXTURES / "clean-app" / "__main__.py").read_text()
    source = source.replace('metadata={"name": "web", "namespace": ns, "labels": labels}, spec={\n    "replicas"',
                            'metadata={"name": "web", "namespace": ns, "labels": labels, "annotations": '
                            '{"checkov.io/skip1": "CKV_K8S_8=because we said so"}}, spec={\n    "replicas"', 1)
    assert "because we said so" in source
    (app / "__main__.py").write_text(source)
    code, out, _ = preview(capsys, app, "--out", tmp_path / "m", "--json", tmp_path / "r.json")
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert code == 1, out
    # the skip blocks; Checkov still evaluated CKV_K8S_8 (the gate hands it no skips), which passes
    assert [(f["rule"], f["engine"], f["resource"]) for f in findings if f["blocking"]] == [
        ("unbacked-suppression", "crossguard", "Deployment/shop/web")]
    assert "because we said so" in (tmp_path / "m" / "deployment_shop_web.yaml").read_text()  # kept in --out


# ---- one policy configuration for the pack and the gate -------------------------------------

def test_the_policy_configuration_reaches_the_pack_and_the_gate_alike(capsys, tmp_path):
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"no-sticky-service": "advisory", "CKV2_K8S_6": "disabled"}))
    code, out, err = preview(capsys, FIXTURES / "violations", "--out", tmp_path / "m", "--json", tmp_path / "r.json",
                             "--policy-pack-config", config)
    # exit 0, not 2: the pack, configured from the same file, reported the sticky Service as advisory too
    assert code == 0, out + err
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(f["rule"], f["engines"], f["level"]) for f in report["findings"]] == [
        ("no-sticky-service", ["crossguard", "checkov"], "advisory")]
    assert report["policy_config"] == str(config)
    pack = next(f for f in report["findings"] if f["engine"] == "crossguard")
    lines = Path(pack["file"]).read_text().splitlines()
    assert pack["line"] == 1 and lines[pack["field_line"] - 1].strip().startswith("sessionAffinity:")


def test_a_bad_policy_configuration_exits_2_before_running_anything(capsys, tmp_path):
    config = tmp_path / "policy-config.json"
    config.write_text('{"CKV_K8S_99999": "advisory"}')
    code, out, err = preview(capsys, FIXTURES / "clean-app", "--out", tmp_path / "m", "--policy-pack-config", config)
    assert code == 2 and "CKV_K8S_99999" in err and out == ""
    assert not (tmp_path / "m").exists()
