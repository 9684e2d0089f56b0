"""`stateless-pack scan` end to end: fixture folders through the real Checkov, exact findings and exit codes."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from stateless_pack.policies.catalog import rules
from stateless_pack.gate import cli
from stateless_pack.gate.manifest_files import load_manifests
from support.paths import REPO as REPO_ROOT
from support.signing import approval

REPO = REPO_ROOT
SCAN = REPO / "tests" / "fixtures" / "scan"


def scan(capsys, *args: str) -> tuple[int, dict, str]:
    """(exit code, JSON report, stderr) of `stateless-pack scan ARGS --format json`."""
    code = cli.main(["scan", *map(str, args), "--format", "json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else {}), captured.err


def found(report: dict) -> set:
    return {(f["rule"], f["engine"], f["resource"]) for f in report.get("findings", [])}


# ---- the fixture folders --------------------------------------------------------------------

def test_clean_manifests_pass(capsys):
    code, report, err = scan(capsys, SCAN / "clean")
    assert (code, report["findings"], err) == (0, [], "")
    assert report["manifests"] == 4  # Deployment, PDB, NetworkPolicy + the Service inside the List


def test_violating_manifests_block_with_exactly_the_expected_findings(capsys):
    known = {r.name for r in rules()}
    expected = {(e["rule"], e["engine"], e["resource"])
                for e in yaml.safe_load((SCAN / "violating.expected.yaml").read_text())
                if e["rule"] in known or e["rule"].startswith("CKV_")}
    code, report, _ = scan(capsys, SCAN / "violating")
    assert code == 1
    assert found(report) == expected
    assert all(f["blocking"] for f in report["findings"])
    ours = [f for f in report["findings"] if f["rule"] == "no-sticky-service"]
    assert sorted((f["engine"], f["checkov_id"], f["path"], f["file"]) for f in ours) == [
        (engine, "CKV_STL_1", "spec.sessionAffinity", str(SCAN / "violating" / "services.yaml"))
        for engine in ("checkov", "rules")]


def test_stack_rules_run_in_the_scan(capsys, tmp_path):
    """Every stack rule of the catalog reports on the violating set (Checkov cannot run them)."""
    stack_rules = {r.name for r in rules() if r.stack}
    assert stack_rules
    _, report, _ = scan(capsys, SCAN / "violating")
    assert stack_rules <= {f["rule"] for f in report["findings"] if f["engine"] == "rules"}


def test_a_single_instance_data_store_on_a_network_disk_is_blocked_twice_by_both_engines(capsys):
    """A bare Redis Pod on a Cinder disk: the instance and the volume, each by our rules and by Checkov."""
    pod = (REPO / "tests" / "fixtures" / "rules" / "no-bare-pods"
           / "fail-single-instance-data-store-on-network-disk.yaml")
    code, report, _ = scan(capsys, pod)
    ours = {r.name for r in rules()}
    assert code == 1
    assert {(f["rule"], f["engine"]) for f in report["findings"] if f["rule"] in ours} == {
        (rule, engine) for rule in ("no-bare-pods", "allowed-volume-types") for engine in ("rules", "checkov")}


def test_broken_yaml_is_reported_with_file_and_line_and_the_rest_still_checked(capsys):
    code, report, _ = scan(capsys, SCAN / "broken")
    assert code == 1
    bad = str(SCAN / "broken" / "bad-indent.yaml")
    assert found(report) == {("manifest-file", "scan", f"{bad}:12"),
                             ("no-sticky-service", "checkov", "Service/shop/sticky"),
                             ("no-sticky-service", "rules", "Service/shop/sticky")}
    problem = next(f for f in report["findings"] if f["engine"] == "scan")
    assert problem["file"] == bad and "line 12" in problem["message"] and problem["blocking"]
    assert report["manifests"] == 2  # the document before the error is kept and checked


def test_kind_list_items_are_each_checked(capsys, tmp_path):
    items = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "namespace": "shop"},
              "spec": {"selector": {"app": n}, "sessionAffinity": a, "ports": [{"port": 80}]}}
             for n, a in (("a", "ClientIP"), ("b", "None"), ("c", "ClientIP"))]
    (tmp_path / "list.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    code, report, _ = scan(capsys, tmp_path / "list.yaml")
    assert code == 1
    assert found(report) == {("no-sticky-service", engine, f"Service/shop/{name}")
                             for engine in ("checkov", "rules") for name in "ac"}


# ---- failures of the tool -------------------------------------------------------------------

def test_missing_checkov_exits_2_with_a_clear_message(capsys, tmp_path):
    code, report, err = scan(capsys, SCAN / "clean", "--checkov", tmp_path / "no-checkov")
    assert code == 2 and report == {}
    assert f"--checkov names {tmp_path / 'no-checkov'}, which is not an executable Checkov" in err


def test_no_checkov_anywhere_says_how_to_get_one(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("STATELESS_PACK_CHECKOV", raising=False)
    code, report, err = scan(capsys, SCAN / "clean")
    assert code == 2 and report == {}
    assert "stateless-pack checkov install" in err and "--checkov PATH" in err


def test_checkov_crash_exits_2(capsys, tmp_path):
    fake = tmp_path / "checkov"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('Segmentation fault\\n')\nsys.exit(139)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    code, report, err = scan(capsys, SCAN / "clean", "--checkov", fake)
    assert code == 2 and report == {}
    assert "exit 139" in err and "Segmentation fault" in err


def test_checkov_from_the_environment_variable(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STATELESS_PACK_CHECKOV", str(tmp_path / "elsewhere" / "checkov"))
    code, _, err = scan(capsys, SCAN / "clean")
    assert code == 2 and "elsewhere/checkov" in err


def test_command_line_end_to_end_table_output(tmp_path):
    """The real command in a subprocess: exit code and the table, also written with --output."""
    out = tmp_path / "report.txt"
    done = subprocess.run([sys.executable, "-m", "stateless_pack.gate.cli", "scan", str(SCAN / "violating"),
                           "--output", str(out)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 1, done.stderr
    table = out.read_text()
    assert "Service/shop/sticky" in table and "CKV_K8S_21" in table and "BLOCKED" in table
    assert done.stdout == ""


# ---- problems that are not YAML syntax ------------------------------------------------------

@pytest.mark.parametrize("name, text, message", [
    ("dup.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n", "duplicate key 'name'"),
    ("scalar.yaml", "just a string\n", "not a mapping"),
    ("nokind.yaml", "apiVersion: v1\nmetadata: {name: x}\n", "no kind"),
    ("badlist.yaml", "apiVersion: v1\nkind: List\nitems: {a: 1}\n", "items is not a list"),
])
def test_not_a_manifest_is_a_blocking_finding(capsys, tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    code, report, _ = scan(capsys, tmp_path, "--checkov", tmp_path / "unused")  # nothing to hand to Checkov
    assert code == 1
    assert [(f["rule"], f["engine"], f["file"]) for f in report["findings"]] == [
        ("manifest-file", "scan", str(tmp_path / name))]
    assert message in report["findings"][0]["message"]


def test_missing_path_and_empty_folder_are_findings(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, report, _ = scan(capsys, tmp_path / "nope.yaml", tmp_path / "empty", "--checkov", tmp_path / "unused")
    assert code == 1
    assert found(report) == {("manifest-file", "scan", str(tmp_path / "nope.yaml")),
                             ("manifest-file", "scan", str(tmp_path / "empty"))}


def test_loader_keeps_line_numbers_of_documents_and_list_items(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n"
                    "---\n# comment\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n")
    loaded, problems = load_manifests([str(path)])
    assert problems == []
    assert [(m.manifest["metadata"]["name"], m.line) for m in loaded] == [("a", 4), ("b", 9)]


def test_loader_skips_hidden_folders_but_never_a_given_file(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("not: [valid\n")
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n")
    assert [m.file for m in load_manifests([str(tmp_path)])[0]] == [str(tmp_path / "a.yaml")]
    loaded, problems = load_manifests([str(tmp_path / ".git" / "x.yaml")])
    assert loaded == [] and [p.line for p in problems] == [2]


# ---- waivers --------------------------------------------------------------------------------

STICKY = """\
apiVersion: v1
kind: Service
metadata:
  name: checkout
  namespace: shop
{annotations}spec:
  selector: {{app: checkout}}
  sessionAffinity: ClientIP
  ports: [{{port: 80, targetPort: 8080}}]
"""


def sticky(tmp_path: Path, skip: str | None = None) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir(exist_ok=True)
    annotations = f"  annotations:\n    checkov.io/skip1: {skip}\n" if skip else ""
    (folder / "svc.yaml").write_text(STICKY.format(annotations=annotations))
    return folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return approval(tmp_path_factory.mktemp("keys"))


def registry(tmp_path: Path, keys, rules_waived=("no-sticky-service",), name="checkout") -> list:
    """`--waivers FILE --pack DIR`: a head-of-devops waiver signed with a key the pack lists."""
    today = date.today()
    path = tmp_path / "waivers.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "waivers": [{
        "id": "W-0001", "rules": list(rules_waived),
        "scope": {"kind": "Service", "namespace": "shop", "name": name},
        "reason": "Legacy checkout keeps in-process sessions until OPS-1234.",
        "approved_by": "jane.doe@example.org", "approver_role": "head-of-devops",
        "reference": "OPS-1234", "created": today - timedelta(days=1), "expires": today + timedelta(days=30)}]}))
    path.write_text(keys.sign(path.read_text(), "W-0001"))
    return ["--waivers", path, "--pack", keys.pack_dir]


def test_a_waiver_covers_our_checkov_finding(capsys, tmp_path, keys):
    code, report, _ = scan(capsys, sticky(tmp_path), *registry(tmp_path, keys))
    assert code == 0
    assert sorted((f["rule"], f["engine"], f["waiver"], f["blocking"]) for f in report["findings"]) == [
        ("no-sticky-service", "checkov", "W-0001", False), ("no-sticky-service", "rules", "W-0001", False)]


def test_a_waiver_for_another_resource_does_not_cover(capsys, tmp_path, keys):
    code, report, _ = scan(capsys, sticky(tmp_path), *registry(tmp_path, keys, name="other"))
    assert code == 1
    assert sorted((f["rule"], f["waiver"], f["blocking"]) for f in report["findings"]) == [
        ("no-sticky-service", "", True), ("no-sticky-service", "", True), ("stale-waiver", "", False)]


def test_a_skip_annotation_backed_by_the_registry_is_waived(capsys, tmp_path, keys):
    code, report, _ = scan(capsys, sticky(tmp_path, skip="CKV_STL_1=W-0001"), *registry(tmp_path, keys))
    assert code == 0
    # Checkov skipped its check (a row of its own, waived); our rules still ran, and are waived too.
    assert sorted((f["rule"], f["engine"], f["waiver"]) for f in report["findings"]) == [
        ("no-sticky-service", "checkov", "W-0001"), ("no-sticky-service", "rules", "W-0001")]


def test_a_skip_annotation_without_a_registry_blocks(capsys, tmp_path):
    code, report, _ = scan(capsys, sticky(tmp_path, skip="CKV_STL_1=W-0001"))
    assert code == 1
    assert found(report) == {("unbacked-suppression", "waivers", "Service/shop/checkout"),
                             ("no-sticky-service", "checkov", "Service/shop/checkout"),
                             ("no-sticky-service", "rules", "Service/shop/checkout")}
    assert all(f["blocking"] for f in report["findings"])
    [unbacked] = [f for f in report["findings"] if f["rule"] == "unbacked-suppression"]
    assert "W-0001 is not in the registry" in unbacked["message"]


def test_an_ad_hoc_skip_annotation_blocks_even_with_a_registry(capsys, tmp_path, keys):
    code, report, _ = scan(capsys, sticky(tmp_path, skip="CKV_STL_1=legacy"), *registry(tmp_path, keys))
    assert code == 1
    assert {(f["rule"], f["blocking"]) for f in report["findings"]} >= {("unbacked-suppression", True)}


def test_an_invalid_registry_applies_no_waiver(capsys, tmp_path):
    bad = tmp_path / "waivers.yaml"
    bad.write_text("version: 1\nwaivers: [{id: nope}]\n")
    code, report, _ = scan(capsys, sticky(tmp_path), "--waivers", bad)
    assert code == 1
    assert {f["rule"] for f in report["findings"]} == {"waiver-registry", "no-sticky-service"}
    assert not any(f["waiver"] for f in report["findings"])
