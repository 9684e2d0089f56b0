"""The Checkov runner: real Checkov runs over small manifests, and fake `checkov` commands for the
ways Checkov can fail (each must raise CheckovError, never look like a clean run)."""
from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from stateless_pack.gate.checkov import runner as checkov_runner
from stateless_pack.gate.checkov.runner import CheckovError, parse_reports, run_checkov, scan_with_checkov
from stateless_pack.policies.catalog import rule_by_name
from support.paths import REPO as REPO_ROOT
from support.paths import checkov_bin

REPO = REPO_ROOT

STICKY = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
{annotations}spec:
  selector: {{app: web}}
  sessionAffinity: {affinity}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def service(tmp_path: Path, affinity: str = "ClientIP", annotations: dict | None = None,
            name: str = "service.yaml") -> Path:
    block = ""
    if annotations:
        block = "  annotations:\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in annotations.items())
    path = tmp_path / name
    path.write_text(STICKY.format(annotations=block, affinity=affinity))
    return path


# ---- real Checkov ---------------------------------------------------------------------------

def test_our_failed_check_becomes_a_finding_with_our_rule_name_and_fix(tmp_path):
    path = service(tmp_path)
    ours = [f for f in run_checkov([str(tmp_path)]) if f.checkov_id.startswith("CKV_STL_")]
    rule = rule_by_name("no-sticky-service")
    assert [(f.rule, f.checkov_id, f.resource, f.path, f.engine, f.level, f.fix, f.file) for f in ours] == [
        (rule.name, rule.checkov_id, "Service/shop/web", "spec.sessionAffinity", "checkov", "mandatory",
         rule.remediation, str(path.resolve()))]
    assert ours[0].blocking


def test_a_passing_resource_gives_no_finding_of_ours(tmp_path):
    service(tmp_path, affinity="None")
    assert [f for f in run_checkov([str(tmp_path)]) if f.checkov_id.startswith("CKV_STL_")] == []


def test_builtin_checks_are_reported_under_their_checkov_id(tmp_path):
    # No namespace: Checkov's CKV_K8S_21 ("The default namespace should not be used") fails.
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n")
    findings = run_checkov([str(tmp_path / "cm.yaml")])
    assert [(f.rule, f.checkov_id, f.resource) for f in findings] == [
        ("CKV_K8S_21", "CKV_K8S_21", "ConfigMap/default/settings")]


def test_without_external_checks_only_builtins_run(tmp_path):
    service(tmp_path, annotations={})
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    ids = {f.checkov_id for f in run_checkov([str(tmp_path)], external_checks=False)}
    assert ids == {"CKV_K8S_21"}


@pytest.mark.parametrize("skip", ["CKV_STL_1=W-0001", "CKV_STL_1=W-0001=because", "CKV_STL_1"])
def test_checkov_gets_no_skip_annotation_and_evaluates_every_check(tmp_path, skip):
    """Whether a skip is backed is the waiver pass's decision, not Checkov's (and Checkov would
    crash on a comment with '=' in it)."""
    path = service(tmp_path, annotations={"checkov.io/skip1": skip, "team": "shop"})
    scan = scan_with_checkov([str(tmp_path)])
    assert scan.suppressions == []
    assert [(f.checkov_id, f.resource, f.file, f.line) for f in scan.findings if f.checkov_id == "CKV_STL_1"] == [
        ("CKV_STL_1", "Service/shop/web", str(path), 1)]


def test_findings_name_the_source_file_and_line_of_each_document(tmp_path):
    first = service(tmp_path, name="one.yaml").read_text()
    (tmp_path / "two.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
                                       + first.replace("name: web", "name: web2"))
    (tmp_path / "one.yaml").unlink()
    found = {(f.resource, f.file, f.line) for f in run_checkov([str(tmp_path)]) if f.checkov_id == "CKV_STL_1"}
    assert found == {("Service/shop/web2", str(tmp_path / "two.yaml"), 5)}


def test_user_environment_cannot_switch_our_checks_off(tmp_path, monkeypatch):
    # Checkov reads CKV_SKIP_CHECK / CKV_CHECK as options; the gate must not inherit them.
    monkeypatch.setenv("CKV_SKIP_CHECK", "CKV_STL_1")
    monkeypatch.setenv("CKV_CHECK", "CKV_K8S_21")
    service(tmp_path)
    assert "CKV_STL_1" in {f.checkov_id for f in run_checkov([str(tmp_path)])}


def test_user_level_checkov_config_is_ignored(tmp_path, monkeypatch):
    checkov = checkov_bin()  # found before HOME (and with it the cache) moves
    home = tmp_path / "home"
    home.mkdir()
    (home / ".checkov.yaml").write_text("skip-check:\n  - CKV_STL_1\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    scanned = tmp_path / "scanned"
    scanned.mkdir()
    service(scanned)
    assert "CKV_STL_1" in {f.checkov_id for f in run_checkov([str(scanned)], checkov_bin=checkov)}


def test_results_are_deterministic(tmp_path):
    service(tmp_path, name="a.yaml")
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    assert run_checkov([str(tmp_path)]) == run_checkov([str(tmp_path)])


def test_a_prestarted_checkov_gives_the_same_scan_as_the_command(tmp_path):
    service(tmp_path, name="a.yaml", annotations={"checkov.io/skip1": "CKV_K8S_21=W-0001"})
    prestarted = checkov_runner.CheckovProcess.prestart(checkov_bin())
    assert prestarted._process is not None  # the default Checkov really was started ahead
    assert scan_with_checkov([str(tmp_path)], checkov=prestarted) == scan_with_checkov([str(tmp_path)])
    assert prestarted._process.returncode == 0 and not Path(prestarted.work_dir).exists()


def test_an_unneeded_prestarted_checkov_is_stopped_and_its_folder_removed():
    prestarted = checkov_runner.CheckovProcess.prestart(checkov_bin())
    prestarted.close()
    assert prestarted._process.poll() is not None
    assert not Path(prestarted.work_dir).exists()


def test_a_file_checkov_would_silently_skip_is_an_error(tmp_path):
    service(tmp_path)
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: [x\n")
    with pytest.raises(CheckovError, match=r"broken\.yaml:\d+"):
        run_checkov([str(tmp_path)])


# ---- Checkov failing ------------------------------------------------------------------------

def test_missing_checkov_binary_is_a_clear_error(tmp_path):
    service(tmp_path)
    with pytest.raises(CheckovError, match="Checkov not found at .*stateless-pack checkov install"):
        run_checkov([str(tmp_path)], checkov_bin=tmp_path / "no-such-checkov")


def fake_checkov(tmp_path: Path, body: str) -> Path:
    """An executable `checkov` that runs `body` (Python) with `out` = the --output-file-path folder."""
    script = tmp_path / "fake-checkov"
    script.write_text(f"#!{os.sys.executable}\n" + textwrap.dedent("""\
        import json, os, sys
        argv = sys.argv[1:]
        out = argv[argv.index("--output-file-path") + 1]
        first_copy = os.path.join(argv[argv.index("--directory") + 1], "00000.yaml")  # the runner's copy
        os.makedirs(out, exist_ok=True)
        def write(data):
            with open(os.path.join(out, "results_json.json"), "w") as f:
                f.write(data if isinstance(data, str) else json.dumps(data))
        """) + textwrap.dedent(body))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_checkov_crash_is_an_error_with_its_message(tmp_path):
    service(tmp_path)
    fake = fake_checkov(tmp_path, 'sys.stderr.write("Traceback ...\\nKeyError: boom\\n"); sys.exit(1)\n')
    with pytest.raises(CheckovError, match=r"(?s)exit 1.*KeyError: boom"):
        run_checkov([str(tmp_path / "service.yaml")], checkov_bin=fake)


def test_unreadable_output_is_an_error(tmp_path):
    service(tmp_path)
    fake = fake_checkov(tmp_path, 'write("this is not json")\n')
    with pytest.raises(CheckovError, match="unreadable Checkov output"):
        run_checkov([str(tmp_path / "service.yaml")], checkov_bin=fake)


def test_no_output_file_is_an_error(tmp_path):
    service(tmp_path)
    fake = fake_checkov(tmp_path, "pass\n")
    with pytest.raises(CheckovError, match="Checkov wrote no results"):
        run_checkov([str(tmp_path / "service.yaml")], checkov_bin=fake)


def test_a_run_where_our_checks_did_not_load_is_an_error(tmp_path):
    # Checkov logs and ignores a check file that fails to import: the output then only has built-ins.
    service(tmp_path)
    report = {"check_type": "kubernetes", "results": {"passed_checks": [
        {"check_id": "CKV_K8S_21", "resource": "Service.shop.web", "check_result": {"result": "PASSED"},
         "file_abs_path": str(tmp_path / "service.yaml")}],
        "failed_checks": [], "skipped_checks": [], "parsing_errors": []}}
    fake = fake_checkov(tmp_path, f"report = {report!r}\n"
                                  "report['results']['passed_checks'][0]['file_abs_path'] = first_copy\n"
                                  "write(report)\n")
    with pytest.raises(CheckovError, match="did not run our checks.*CKV_STL_1 on Service/shop/web"):
        run_checkov([str(tmp_path / "service.yaml")], checkov_bin=fake)
    # The same output is fine when our checks were not asked for.
    assert run_checkov([str(tmp_path / "service.yaml")], checkov_bin=fake, external_checks=False) == []


def test_a_run_without_our_probe_is_an_error_even_for_a_kind_we_have_no_rule_for(tmp_path):
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n")
    report = {"check_type": "kubernetes", "results": {"passed_checks": [
        {"check_id": "CKV_K8S_21", "resource": "ConfigMap.x.c", "check_result": {"result": "PASSED"},
         "file_abs_path": str(tmp_path / "cm.yaml")}], "failed_checks": [], "skipped_checks": [], "parsing_errors": []}}
    fake = fake_checkov(tmp_path, f"report = {report!r}\n"
                                  "report['results']['passed_checks'][0]['file_abs_path'] = first_copy\n"
                                  "write(report)\n")
    with pytest.raises(CheckovError, match="did not run our checks.*CKV_STL_0 on ConfigMap/x/c"):
        run_checkov([str(tmp_path / "cm.yaml")], checkov_bin=fake)


def test_checkov_runs_offline_with_only_our_options(tmp_path, monkeypatch):
    monkeypatch.setenv("CKV_NO_FAIL_ON_CRASH", "true")
    monkeypatch.setenv("BC_API_KEY", "not-a-key")
    service(tmp_path, affinity="None")
    fake = fake_checkov(tmp_path, """\
        keep = {k: v for k, v in os.environ.items() if k.startswith(("CKV_", "BC_")) or k == "HOME"}
        with open(os.environ["PROBE_OUT"], "w") as f:
            json.dump({"argv": argv, "env": keep, "cwd": os.getcwd()}, f)
        write({"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0})
        """)
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "seen.json"))
    run_checkov([str(tmp_path / "service.yaml")], checkov_bin=fake, external_checks=False)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert {"--skip-download", "--skip-results-upload", "--soft-fail"} <= set(seen["argv"])
    assert seen["argv"][seen["argv"].index("--framework") + 1] == "kubernetes"
    assert "--external-checks-dir" not in seen["argv"]
    assert seen["env"]["CKV_SKIP_PACKAGE_UPDATE_CHECK"] == "true"
    assert seen["env"]["BC_SKIP_MAPPING"] == "TRUE"
    assert "CKV_NO_FAIL_ON_CRASH" not in seen["env"] and "BC_API_KEY" not in seen["env"]
    assert seen["env"]["HOME"] == seen["cwd"] != os.path.expanduser("~")


# ---- reading Checkov's JSON -----------------------------------------------------------------

def report(check_type="kubernetes", failed=(), parsing_errors=()):
    return {"check_type": check_type, "results": {"passed_checks": [], "failed_checks": list(failed),
                                                  "skipped_checks": [], "parsing_errors": list(parsing_errors)}}


def test_parse_reports_accepts_one_report_or_a_list_and_keeps_kubernetes_only():
    one = report(failed=[{"check_id": "CKV_K8S_1"}])
    assert parse_reports(json.dumps(one)) == [one]
    assert parse_reports(json.dumps([one, report("sca_image")])) == [one]


def test_parse_reports_reads_a_bare_summary_as_no_reports():
    assert parse_reports(json.dumps({"passed": 0, "failed": 0, "resource_count": 0})) == []


@pytest.mark.parametrize("text", ["", "[1, 2]", "not json", '"a string"'])
def test_parse_reports_rejects_anything_else(text):
    with pytest.raises(CheckovError):
        parse_reports(text)


def test_parse_reports_turns_parsing_errors_into_an_error():
    with pytest.raises(CheckovError, match="could not parse: /x.yaml"):
        parse_reports(json.dumps(report(parsing_errors=["/x.yaml"])))


@pytest.mark.parametrize("checkov_resource, ours", [
    ("Service.shop.web", "Service/shop/web"),
    ("Service.shop.web.v2", "Service/shop/web.v2"),
    ("odd", "odd"),
])
def test_resource_ref(checkov_resource, ours):
    assert checkov_runner.resource_ref(checkov_resource) == ours


# ---- what Checkov did not evaluate, settings, paths -----------------------------------------

def test_resources_checkov_drops_are_returned_and_the_others_are_not(tmp_path):
    service(tmp_path, name="kept.yaml")
    (tmp_path / "dropped.yaml").write_text(STICKY.format(annotations="", affinity="ClientIP").replace(
        "name: web", "name: web#2"))
    (tmp_path / "crd.yaml").write_text("apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n")
    scan = scan_with_checkov([str(tmp_path)])
    assert scan.unevaluated == [(str(tmp_path / "dropped.yaml"), 1)]  # the source file and line


def test_rule_settings_reach_our_checks_and_the_callers_variable_does_not(tmp_path, monkeypatch):
    (tmp_path / "obc.yaml").write_text("apiVersion: objectbucket.io/v1alpha1\nkind: ObjectBucketClaim\n"
                                       "metadata: {name: files, namespace: shop}\nspec: {storageClassName: gold}\n")
    gold = {"approved-bucket-storage-class": {"approvedStorageClasses": ["gold"]}}

    def ours(**kw):
        return [f.checkov_id for f in scan_with_checkov([str(tmp_path)], **kw).findings if f.checkov_id == "CKV_STL_8"]

    assert ours() == ["CKV_STL_8"]
    assert ours(rule_settings=gold) == []
    monkeypatch.setenv("STATELESS_PACK_RULE_SETTINGS", json.dumps(gold))
    assert ours() == ["CKV_STL_8"]


@pytest.mark.parametrize("key, path", [
    ("spec/template/spec/containers/[0]/resources/requests/memory",
     "spec.template.spec.containers[0].resources.requests.memory"),
    ("metadata/annotations/nginx.ingress.kubernetes.io/affinity",
     'metadata.annotations["nginx.ingress.kubernetes.io/affinity"]'),
    ("spec/template/metadata/labels/app.kubernetes.io/name", 'spec.template.metadata.labels["app.kubernetes.io/name"]'),
    ("kind", "kind"),
])
def test_checkov_paths_in_our_syntax(key, path):
    assert checkov_runner.checkov_path(key) == path


def test_builtin_findings_carry_our_path_syntax(tmp_path):
    (tmp_path / "d.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers: [{name: web, image: 'nginx:latest'}]\n")
    paths = {f.checkov_id: f.path for f in run_checkov([str(tmp_path)])}
    assert paths["CKV_K8S_14"] == "spec.template.spec.containers[0].image"
    assert not any("/" in p for p in paths.values())
