"""`stateless-pack scan` of Helm charts and kustomizations with the real helm, kubectl and Checkov:
exact findings at template files and lines, the values keys behind them, and exit 2 with the
tool's own message when a chart cannot be had."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest
import yaml

from stateless_pack.gate import cli
from support.chart_repository import helm_home, served_repository  # noqa: F401
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.paths import REPO

CHARTS = Path("tests/fixtures/charts")   # relative: the reports name files as the scan was given them
WEBAPP = CHARTS / "webapp"
STATELESS = WEBAPP / "values-stateless.yaml"
OVERLAYS = Path("tests/fixtures/kustomize/overlays")
EXPECTED = yaml.safe_load((REPO / CHARTS / "expected-findings.yaml").read_text())


@pytest.fixture(autouse=True)
def in_the_repository(monkeypatch):
    monkeypatch.chdir(REPO)


def scan(capsys, *args) -> tuple[int, dict, str]:
    code = cli.main(["scan", *map(str, args), "--format", "json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else {}), captured.err


def summary(report: dict) -> list[dict]:
    """One entry per (rule, resource), as the expectations file writes them; every rule of ours is
    reported by the rules and by Checkov, at the same place."""
    entries: dict = {}
    for f in report["findings"]:
        entry = {"rule": f["rule"], "resource": f["resource"], "file": f["file"], "line": f["line"],
                 "field_line": f["field_line"]}
        values = [r["message"].split("`")[1] for r in f["related"] if r["role"] == "values"]
        patches = [f"{r['file']}:{r['line']}" for r in f["related"] if r["role"] == "patch"]
        if values:
            entry["values"] = values
        if patches:
            [entry["patch"]] = patches
        entries.setdefault(json.dumps(entry, sort_keys=True), set()).update(engines_of(f))
    assert all(engines == {"rules", "checkov"} for engines in entries.values()), entries
    return sorted((json.loads(e) for e in entries), key=lambda e: (e["resource"], e["rule"]))


def engines_of(finding: dict) -> set:
    """The engines that reported a finding (one finding per engine, or one with all of them)."""
    return set(finding.get("engines") or [finding["engine"]])


def expected(name: str) -> list[dict]:
    return sorted(EXPECTED[name], key=lambda e: (e["resource"], e["rule"]))


# ---- charts -----------------------------------------------------------------------------------

def test_the_charts_defaults_block_with_exactly_the_expected_findings_in_its_templates(capsys):
    code, report, err = scan(capsys, WEBAPP, "--namespace", "shop")
    assert (code, err) == (1, "")
    assert summary(report) == expected("webapp-defaults")
    assert report["manifests"] == 8 and report["rendered"] == [f"helm template webapp {WEBAPP}"]


def test_the_values_that_make_it_stateless_pass(capsys):
    code, report, _ = scan(capsys, WEBAPP, "--namespace", "shop", "-f", STATELESS)
    assert (code, summary(report)) == (0, expected("webapp-stateless"))
    assert report["manifests"] == 7  # no PVC


def test_set_turns_one_problem_back_on_and_is_named_as_its_source(capsys):
    code, report, _ = scan(capsys, WEBAPP, "--namespace", "shop", "-f", STATELESS,
                           "--set", "service.sessionAffinity=ClientIP")
    assert code == 1
    [sticky] = [e for e in expected("webapp-defaults") if e["rule"] == "no-sticky-service"]
    assert summary(report) == [sticky]
    [values] = {r["message"] for f in report["findings"] for r in f["related"] if r["role"] == "values"}
    assert values == ("`service.sessionAffinity` writes this field (`{{ .Values.service.sessionAffinity }}` "
                      "at line 10); set by --set service.sessionAffinity")


def test_a_later_values_file_is_named_where_it_sets_the_key(capsys, tmp_path):
    sticky = tmp_path / "sticky.yaml"
    sticky.write_text("# ours\nservice:\n  sessionAffinity: ClientIP\n")
    _, report, _ = scan(capsys, WEBAPP, "--namespace", "shop", "-f", STATELESS, "-f", sticky)
    related = {(r["file"], r["line"]) for f in report["findings"] for r in f["related"] if r["role"] == "values"}
    assert related == {(str(sticky), 3)}


def test_json_and_sarif_point_at_the_template_line_and_keep_the_rendered_document(capsys, tmp_path):
    sarif = tmp_path / "scan.sarif"
    _, report, _ = scan(capsys, WEBAPP, "--namespace", "shop", "--sarif", sarif)
    [finding] = [f for f in report["findings"] if f["rule"] == "no-sticky-service" and "rules" in engines_of(f)]
    assert (finding["file"], finding["line"], finding["field_line"]) == (
        "tests/fixtures/charts/webapp/templates/service.yaml", 1, 10)
    assert finding["related"] == [
        {"role": "rendered", "message": "`helm template webapp tests/fixtures/charts/webapp`, document 6 "
                                        "(webapp/templates/service.yaml), line 81 of its output",
         "file": "", "line": 0},
        {"role": "values", "message": "`service.sessionAffinity` writes this field (`{{ .Values.service."
                                      "sessionAffinity }}` at line 10); set in tests/fixtures/charts/webapp/"
                                      "values.yaml line 8",
         "file": "tests/fixtures/charts/webapp/values.yaml", "line": 8}]
    results = [r for r in json.loads(sarif.read_text())["runs"][0]["results"] if r["ruleId"] == "no-sticky-service"]
    assert results
    for result in results:  # the rules' and Checkov's, or one for both
        assert result["locations"][0]["physicalLocation"] == {
            "artifactLocation": {"uri": "tests/fixtures/charts/webapp/templates/service.yaml",
                                 "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 10}}
        assert [(r["message"]["text"].split(":")[0], r.get("physicalLocation"))
                for r in result["relatedLocations"]] == [
            ("rendered", None),
            ("values", {"artifactLocation": {"uri": "tests/fixtures/charts/webapp/values.yaml",
                                             "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 8}})]


def test_a_chart_from_a_repository_on_loopback_gives_the_same_findings(capsys, tmp_path, helm_home):
    with served_repository(tmp_path / "repo", REPO / WEBAPP) as url:
        code, report, err = scan(capsys, "--chart", "webapp", "--repo", url, "--version", "1.2.0",
                                 "--namespace", "shop")
    assert (code, err) == (1, "")
    inside_the_archive = [{**e, "file": e["file"].replace("tests/fixtures/charts/", "")}
                          for e in expected("webapp-defaults")]
    for entry in inside_the_archive:  # its values.yaml is inside the archive as well
        entry.pop("values")
    assert [{k: v for k, v in e.items() if k != "values"} for e in summary(report)] == inside_the_archive
    values = {r["message"].rsplit("; ", 1)[1] for f in report["findings"] for r in f["related"]
              if r["role"] == "values"}
    assert values == {"set in webapp/values.yaml line 8", "set in webapp/values.yaml line 10",
                      "set in webapp/values.yaml line 14", "set in webapp/values.yaml line 18"}


def test_a_version_the_repository_does_not_have_is_exit_2_with_helms_message(capsys, tmp_path, helm_home):
    with served_repository(tmp_path / "repo", REPO / WEBAPP) as url:
        code, report, err = scan(capsys, "--chart", "webapp", "--repo", url, "--version", "2.0.0")
    assert (code, report) == (2, {})
    assert err == (f"stateless-pack scan: error: cannot fetch webapp 2.0.0 from {url}: chart \"webapp\" "
                   f"version \"2.0.0\" not found in {url} repository\n")


def test_a_broken_template_is_exit_2_with_helms_message(capsys):
    code, report, err = scan(capsys, CHARTS / "broken")
    assert (code, report) == (2, {})
    assert err == ("stateless-pack scan: error: cannot render tests/fixtures/charts/broken: "
                   "broken/templates/service.yaml:7:22\n"
                   '  executing "broken/templates/service.yaml" at <.Values.service.port>:\n'
                   "    nil pointer evaluating interface {}.port\n")


def test_a_missing_helm_is_exit_2_with_the_command_that_installs_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("STATELESS_PACK_HELM", raising=False)
    code, report, err = scan(capsys, WEBAPP)
    assert (code, report) == (2, {})
    assert err.startswith("stateless-pack scan: error: helm is not installed where the gate looks")
    assert "Run `stateless-pack tools install`" in err and "--helm PATH or $STATELESS_PACK_HELM" in err


def test_a_chart_that_renders_nothing_blocks(capsys, tmp_path):
    chart = tmp_path / "empty-chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: empty\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text("{{- if .Values.on }}\nkind: ConfigMap\n{{- end }}\n")
    code, report, _ = scan(capsys, chart)
    assert code == 1
    assert [(f["rule"], f["resource"], f["message"], f["blocking"]) for f in report["findings"]] == [
        ("manifest-file", str(chart), "the chart rendered no resources", True)]


def test_a_rendered_document_with_a_repeated_key_blocks_at_its_template_line(capsys, tmp_path):
    chart = tmp_path / "dup"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: dup\nversion: 0.1.0\n")
    (chart / "templates" / "svc.yaml").write_text(  # helm renders it; which value would the cluster use?
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n"
        "  sessionAffinity: None\n  selector: {app: web}\n  ports: [{port: 80}]\n  sessionAffinity: ClientIP\n")
    code, report, _ = scan(capsys, chart)
    assert code == 1
    assert [(f["rule"], f["file"], f["line"], f["blocking"]) for f in report["findings"]] == [
        ("manifest-file", str(chart / "templates" / "svc.yaml"), 10, True)]
    assert "found duplicate key 'sessionAffinity'" in report["findings"][0]["message"]


def test_a_folder_with_a_chart_and_plain_yaml_renders_the_chart_and_loads_the_yaml(capsys, tmp_path):
    shutil.copytree(REPO / WEBAPP, tmp_path / "deploy" / "webapp")
    (tmp_path / "deploy" / "extra.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: extra, namespace: shop}\n"
        "spec: {sessionAffinity: ClientIP, selector: {app: x}, ports: [{port: 80}]}\n")
    code, report, _ = scan(capsys, tmp_path / "deploy", "--namespace", "shop", "-f", STATELESS)
    assert code == 1
    assert {(f["rule"], f["resource"], f["file"]) for f in report["findings"]} == {
        ("no-sticky-service", "Service/shop/extra", str(tmp_path / "deploy" / "extra.yaml"))}
    assert report["manifests"] == 8


def test_chart_options_without_a_chart_are_exit_2(capsys):
    code, _, err = scan(capsys, WEBAPP, "--repo", "https://charts.example")
    assert (code, err) == (2, "stateless-pack scan: error: --repo and --version name where --chart comes from: "
                              "give --chart too\n")
    code, _, err = scan(capsys, OVERLAYS / "clean", "-f", STATELESS)
    assert (code, err) == (2, "stateless-pack scan: error: --values and --set are for charts, and there is no "
                              "chart to render (a folder with Chart.yaml, or --chart)\n")


# ---- kustomizations ---------------------------------------------------------------------------

def test_the_sticky_overlay_blocks_exactly_the_sticky_service_at_its_base_file_and_patch(capsys):
    code, report, _ = scan(capsys, OVERLAYS / "sticky")
    assert code == 1
    assert summary(report) == expected("kustomize-sticky")


def test_the_clean_overlay_passes(capsys):
    code, report, _ = scan(capsys, OVERLAYS / "clean")
    assert (code, summary(report), report["manifests"]) == (0, expected("kustomize-clean"), 4)


# ---- waivers ----------------------------------------------------------------------------------

def test_a_waiver_scoped_to_one_rendered_child_applies_to_it_alone(capsys, tmp_path):
    today = date.today()
    registry = tmp_path / "waivers.yaml"
    registry.write_text(yaml.safe_dump({"version": 1, "waivers": [{
        "id": "W-0042", "rules": ["no-persistent-volume-claims"],
        "scope": {"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "webapp-data"},
        "reason": "The chart's upload cache stays on a volume until SHOP-7 moves it to object storage.",
        "approved_by": "max.mustermann@example.org", "approver_role": "platform-lead",
        "reference": "SHOP-7", "created": today - timedelta(days=1), "expires": today + timedelta(days=30)}]}))
    code, report, _ = scan(capsys, WEBAPP, "--namespace", "shop", "-f", STATELESS,
                           "--set", "persistence.enabled=true", "--waivers", registry)
    assert code == 1
    decided: dict = {}
    for f in report["findings"]:
        decided.setdefault((f["rule"], f["resource"], f["waiver"], f["blocking"]), set()).update(engines_of(f))
    assert decided == {
        ("no-persistent-volume-claims", "Deployment/shop/webapp-web", "", True): {"rules", "checkov"},
        ("no-persistent-volume-claims", "PersistentVolumeClaim/shop/webapp-data", "W-0042", False):
            {"rules", "checkov"}}


# ---- signals ----------------------------------------------------------------------------------

def test_sigterm_while_helm_renders_stops_helm_and_what_it_started(tmp_path):
    slow = tmp_path / "helm"
    slow.write_text("#!/bin/sh\ncase \"$1\" in version) echo v3.14.0; exit 0;; esac\nsleep 300\n")
    slow.chmod(0o755)
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "STATELESS_PACK_WAIVERS": ""}
    scan_process = subprocess.Popen([sys.executable, "-m", "stateless_pack.gate.cli", "scan", str(WEBAPP),
                                     "--helm", str(slow)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
    give_up = time.monotonic() + 60
    while not any("sleep" in _cmdline(p) for p in _children(scan_process)):
        assert time.monotonic() < give_up and scan_process.poll() is None, scan_process.communicate()
        time.sleep(0.1)
    tree = _children(scan_process)
    scan_process.send_signal(signal.SIGTERM)
    _, err = scan_process.communicate(timeout=60)
    assert scan_process.returncode == 2 and "stopped by SIGTERM" in err
    assert psutil.wait_procs(tree, timeout=10)[1] == []
    assert list((tmp_path / "tmp").iterdir()) == []


def _children(process: subprocess.Popen) -> list:
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        return []


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""
