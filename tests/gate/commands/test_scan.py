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

from stateless_pack.gate import cli
from stateless_pack.gate.render.manifest_files import load_manifests
from stateless_pack.policies.catalog import rules
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
    """(rule, the engines that found it, resource) of each finding."""
    return {(f["rule"], ",".join(f["engines"]), f["resource"]) for f in report.get("findings", [])}


# ---- the fixture folders --------------------------------------------------------------------

def test_clean_manifests_pass(capsys):
    code, report, err = scan(capsys, SCAN / "clean")
    assert (code, report["findings"], err) == (0, [], "")
    assert report["manifests"] == 4  # Deployment, PDB, NetworkPolicy + the Service inside the List


def test_violating_manifests_block_with_exactly_the_expected_findings(capsys):
    known = {r.name for r in rules()}
    expected = {(e["rule"], e["engines"], e["resource"])
                for e in yaml.safe_load((SCAN / "violating.expected.yaml").read_text())
                if e["rule"] in known or e["rule"].startswith("CKV_")}
    code, report, _ = scan(capsys, SCAN / "violating")
    assert code == 1
    assert found(report) == expected
    assert all(f["blocking"] for f in report["findings"])
    ours = [f for f in report["findings"] if f["rule"] == "no-sticky-service"]
    assert [(f["engines"], f["checkov_id"], f["path"], f["file"]) for f in ours] == [
        (["rules", "checkov"], "CKV_STL_1", "spec.sessionAffinity", str(SCAN / "violating" / "services.yaml"))]
    # counted once: the summary's numbers are the distinct findings
    assert report["summary"]["blocking"] == report["summary"]["findings"] == len(expected)


def test_stack_rules_run_in_the_scan(capsys, tmp_path):
    """Every stack rule of the catalog reports on the violating set (Checkov cannot run them)."""
    stack_rules = {r.name for r in rules() if r.stack}
    assert stack_rules
    _, report, _ = scan(capsys, SCAN / "violating")
    assert stack_rules <= {f["rule"] for f in report["findings"] if f["engine"] == "rules"}


def test_a_single_instance_data_store_on_a_network_disk_is_blocked_twice_by_both_engines(capsys):
    """A bare Redis Pod on a Cinder disk: the instance and the volume, each found by our rules and by
    Checkov, each reported once."""
    pod = (REPO / "tests" / "fixtures" / "rules" / "no-bare-pods"
           / "fail-single-instance-data-store-on-network-disk.yaml")
    code, report, _ = scan(capsys, pod)
    ours = {r.name for r in rules()}
    assert code == 1
    assert sorted((f["rule"], tuple(f["engines"])) for f in report["findings"] if f["rule"] in ours) == [
        ("allowed-volume-types", ("rules", "checkov")), ("no-bare-pods", ("rules", "checkov"))]


def test_broken_yaml_is_reported_with_file_and_line_and_the_rest_still_checked(capsys):
    code, report, _ = scan(capsys, SCAN / "broken")
    assert code == 1
    bad = str(SCAN / "broken" / "bad-indent.yaml")
    assert found(report) == {("manifest-file", "scan", f"{bad}:12"),
                             ("no-sticky-service", "rules,checkov", "Service/shop/sticky")}
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
    assert found(report) == {("no-sticky-service", "rules,checkov", f"Service/shop/{name}") for name in "ac"}


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



def test_two_copies_of_one_resource_block_naming_both_places(capsys, tmp_path):
    """Applied, the copy applied last replaces the other: the clean copy's pass must not hide the
    sticky one, nor the other way round. Both copies are checked, and the duplicate blocks."""
    clean = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n"
    (tmp_path / "a.yaml").write_text(clean)
    (tmp_path / "b.yaml").write_text(clean.replace("spec: {", "spec: {sessionAffinity: ClientIP, "))
    code, report, _ = scan(capsys, tmp_path)
    assert code == 1
    [duplicate] = [f for f in report["findings"] if f["rule"] == "manifest-file"]
    assert duplicate["blocking"] and (duplicate["file"], duplicate["line"]) == (str(tmp_path / "b.yaml"), 1)
    assert duplicate["message"].startswith(f"Service/shop/web is defined twice: at {tmp_path / 'a.yaml'}:1 and here")
    assert [(f["rule"], sorted(f["engines"]), Path(f["file"]).name) for f in report["findings"]
            if f["rule"] == "no-sticky-service"] == [("no-sticky-service", ["checkov", "rules"], "b.yaml")]


def test_a_chart_rendering_one_object_twice_blocks_but_alternative_renderings_are_not_compared(capsys, tmp_path):
    """Within one rendering a second copy is a duplicate; a base and its overlays (or one chart with
    two sets of values) scanned together are alternatives, each checked on its own."""
    chart = tmp_path / "twice"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: twice\nversion: 0.1.0\n")
    (chart / "templates" / "config.yaml").write_text(
        "{{- range list 1 2 }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
        "data: {mode: plain}\n{{- end }}\n")
    code, report, err = scan(capsys, chart)
    assert code == 1, err
    [duplicate] = [f for f in report["findings"] if f["rule"] == "manifest-file"]
    assert duplicate["blocking"] and "ConfigMap/default/settings is defined twice" in duplicate["message"]
    overlays = REPO / "tests" / "fixtures" / "kustomize" / "overlays"
    code, report, err = scan(capsys, overlays / "clean", overlays / "sticky")
    assert code == 1, err  # the sticky overlay's own finding, not a duplicate
    assert not [f for f in report["findings"] if f["rule"] == "manifest-file"]


@pytest.mark.parametrize("option", ["--output", "--sarif", "--junit"])
def test_an_output_file_that_cannot_be_written_fails_before_the_scan(capsys, tmp_path, monkeypatch, option):
    from stateless_pack.gate.commands import scan as scan_command

    monkeypatch.setattr(scan_command, "load_manifests", lambda *a, **k: pytest.fail("the scan ran"))
    for target in (tmp_path / "nonexistent" / "dir" / "x.json", Path("/proc/x.json")):
        code = cli.main(["scan", str(SCAN / "clean"), option, str(target)])
        captured = capsys.readouterr()
        assert code == 2 and captured.out == "" and "Traceback" not in captured.err
        assert captured.err.count("\n") == 1 and captured.err.startswith(
            f"stateless-pack scan: error: {option} {target}: "), captured.err
    assert not (tmp_path / "nonexistent").exists()


def test_a_report_that_cannot_be_written_at_the_end_fails_without_a_verdict(capsys, tmp_path, monkeypatch):
    from stateless_pack.gate.commands import scan as scan_command

    reports_dir = tmp_path / "reports"
    reports_dir.mkdir()
    real = scan_command.rule_findings

    def folder_gone(*args, **kwargs):  # removed while the scan ran
        reports_dir.rmdir()
        return real(*args, **kwargs)

    monkeypatch.setattr(scan_command, "rule_findings", folder_gone)
    code = cli.main(["scan", str(SCAN / "clean"), "--sarif", str(reports_dir / "r.sarif")])
    captured = capsys.readouterr()
    assert code == 2 and "PASSED" not in captured.out and "Traceback" not in captured.err
    assert captured.err.startswith(f"stateless-pack scan: error: --sarif {reports_dir / 'r.sarif'}: cannot be written")


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


def test_a_missing_path_is_a_usage_error_naming_it(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, report, err = scan(capsys, tmp_path / "nope.yaml", tmp_path / "empty", "--checkov", tmp_path / "unused")
    assert (code, report) == (2, {})
    assert f"no such file or folder: {tmp_path / 'nope.yaml'}" in err and "valid Kubernetes YAML" not in err


def test_an_empty_folder_or_file_blocks_unless_empty_input_is_allowed(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "comments.yaml").write_text("# all commented out\n")
    args = (tmp_path / "empty", tmp_path / "comments.yaml", "--checkov", tmp_path / "unused")
    code, report, _ = scan(capsys, *args)
    assert code == 1
    assert sorted((f["resource"], f["blocking"]) for f in report["findings"]) == [
        (str(tmp_path / "comments.yaml"), True), (str(tmp_path / "empty"), True)]
    assert all("no " in f["message"] and "--allow-empty" in f["fix"] for f in report["findings"])
    code, report, _ = scan(capsys, *args, "--allow-empty")
    assert code == 0 and [f["level"] for f in report["findings"]] == ["advisory", "advisory"]


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
    assert [(f["rule"], f["engines"], f["waiver"], f["blocking"]) for f in report["findings"]] == [
        ("no-sticky-service", ["rules", "checkov"], "W-0001", False)]


def test_a_waiver_for_another_resource_does_not_cover(capsys, tmp_path, keys):
    code, report, _ = scan(capsys, sticky(tmp_path), *registry(tmp_path, keys, name="other"))
    assert code == 1
    assert sorted((f["rule"], f["waiver"], f["blocking"]) for f in report["findings"]) == [
        ("no-sticky-service", "", True), ("stale-waiver", "", False)]


def test_a_skip_annotation_backed_by_the_registry_is_waived(capsys, tmp_path, keys):
    code, report, _ = scan(capsys, sticky(tmp_path, skip="CKV_STL_1=W-0001"), *registry(tmp_path, keys))
    assert code == 0
    # Checkov never gets the skip: both engines judge the Service, one finding, waived by the registry.
    assert [(f["rule"], f["engines"], f["waiver"]) for f in report["findings"]] == [
        ("no-sticky-service", ["rules", "checkov"], "W-0001")]


def test_a_skip_annotation_without_a_registry_blocks(capsys, tmp_path):
    code, report, _ = scan(capsys, sticky(tmp_path, skip="CKV_STL_1=W-0001"))
    assert code == 1
    assert found(report) == {("unbacked-suppression", "waivers", "Service/shop/checkout"),
                             ("no-sticky-service", "rules,checkov", "Service/shop/checkout")}
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


# ---- resources Checkov drops (issue 17, item 3) ---------------------------------------------

WILDCARD_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
"""


def _findings_of(report: dict, resource_prefix: str) -> set:
    return {(f["rule"], f["engine"], f["blocking"]) for f in report["findings"]
            if f["resource"].startswith(resource_prefix)}


@pytest.mark.parametrize("name", ['"{admin}"', '"admin#1"', "a" * 254])
def test_a_wildcard_cluster_role_checkov_drops_still_blocks(capsys, tmp_path, name):
    (tmp_path / "role.yaml").write_text(WILDCARD_ROLE.format(name=name))
    code, report, _ = scan(capsys, tmp_path)
    assert code == 1
    assert [(f["rule"], f["engine"], f["blocking"], f["line"]) for f in report["findings"]] == [
        ("not-checked-by-checkov", "checkov", True, 1)]
    assert "not checked by Checkov" in report["findings"][0]["message"]


def test_the_same_role_with_a_plain_name_is_judged_by_checkov(capsys, tmp_path):
    (tmp_path / "role.yaml").write_text(WILDCARD_ROLE.format(name="admin"))
    code, report, _ = scan(capsys, tmp_path)
    assert code == 1
    rules_found = {f["rule"] for f in report["findings"]}
    assert "not-checked-by-checkov" not in rules_found and any(r.startswith("CKV_K8S_") for r in rules_found)


@pytest.mark.parametrize("metadata, port_name", [
    ("  name: sticky\n  namespace: shop\n", '"http#1"'),                          # a name at depth
    ("  name: sticky\n  namespace: shop\n", "8080"),                              # not a string
    ("  generateName: sticky-\n  namespace: shop\n", "http"),                     # no name, no labels
    ('  name: ""\n  namespace: shop\n', "http"),                                  # an empty name
])
def test_a_sticky_service_checkov_drops_is_blocked_by_our_rules_and_reported(capsys, tmp_path, metadata, port_name):
    (tmp_path / "svc.yaml").write_text(
        f"apiVersion: v1\nkind: Service\nmetadata:\n{metadata}spec:\n  selector: {{app: web}}\n"
        f"  sessionAffinity: ClientIP\n  ports:\n  - name: {port_name}\n    port: 80\n")
    code, report, err = scan(capsys, tmp_path)
    assert code == 1, err
    assert _findings_of(report, "Service/shop/") == {("no-sticky-service", "rules", True),
                                                     ("not-checked-by-checkov", "checkov", True)}


def test_a_kind_no_checkov_check_applies_to_is_not_reported_as_dropped(capsys, tmp_path):
    (tmp_path / "cert.yaml").write_text("apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n"
                                        "  name: shop\n  namespace: shop\nspec:\n  secretName: shop-tls\n")
    code, report, _ = scan(capsys, tmp_path)
    assert (code, report["findings"]) == (0, [])


def test_not_checked_by_checkov_follows_the_policy_configuration(capsys, tmp_path):
    (tmp_path / "role.yaml").write_text(WILDCARD_ROLE.format(name='"{admin}"'))
    (tmp_path / "cfg.json").write_text('{"not-checked-by-checkov": "advisory"}')
    code, report, _ = scan(capsys, tmp_path / "role.yaml", "--policy-pack-config", tmp_path / "cfg.json")
    assert code == 0 and [f["level"] for f in report["findings"]] == ["advisory"]


# ---- what a folder walk reads (issue 17, item 4) --------------------------------------------

def test_odd_folders_and_names_are_scanned_or_reported(capsys, tmp_path):
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"
    (tree / ".hidden").mkdir(parents=True)
    elsewhere.mkdir()
    (tree / "UPPER.YAML").write_text(STICKY.format(annotations="").replace("checkout", "upper"))
    (elsewhere / "linked.yml").write_text(STICKY.format(annotations="").replace("checkout", "linked"))
    (tree / "link").symlink_to(elsewhere, target_is_directory=True)
    (tree / ".hidden" / "h.yaml").write_text(STICKY.format(annotations="").replace("checkout", "hidden"))
    os.mkfifo(tree / "pipe.yaml")
    code, report, _ = scan(capsys, tree)
    assert code == 1
    assert {f["resource"] for f in report["findings"] if f["rule"] == "no-sticky-service"} == {
        "Service/shop/upper", "Service/shop/linked"}
    files = {(Path(f["resource"]).name, f["blocking"]) for f in report["findings"] if f["rule"] == "manifest-file"}
    assert files == {(".hidden", False), ("pipe.yaml", True)}
    _, report, _ = scan(capsys, tree, "--include-hidden")
    assert "Service/shop/hidden" in {f["resource"] for f in report["findings"]}


def test_hostile_names_reach_the_table_escaped_and_the_json_as_they_are(capsys, tmp_path):
    """A name with an ANSI "hide the rest" escape, a CR and a bidi override cannot rewrite the table."""
    name = "web\x1b[8m\rPASSED\u202e"
    (tmp_path / "svc.yaml").write_text(
        'apiVersion: v1\nkind: Service\nmetadata:\n  name: "web\\e[8m\\rPASSED\\u202e"\n  namespace: shop\n'
        "spec:\n  sessionAffinity: ClientIP\n  selector: {app: web}\n  ports: [{port: 80}]\n")
    code = cli.main(["scan", str(tmp_path / "svc.yaml"), "--sarif", str(tmp_path / "r.sarif")])
    table = capsys.readouterr().out
    assert code == 1
    for raw in ("\x1b", "\r", "\u202e"):
        assert raw not in table, repr(raw)
    assert "Service/shop/web\\x1b[8m\\x0dPASSED\\u202e  (" in table and "BLOCKED" in table.splitlines()[-1]
    code, report, _ = scan(capsys, tmp_path / "svc.yaml")
    assert f"Service/shop/{name}" in {f["resource"] for f in report["findings"]}
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert f"Service/shop/{name}" in {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                                      for r in sarif["runs"][0]["results"]}


# ---- odd YAML is a finding, never a traceback (issue 17, item 12) ---------------------------

def test_an_unrendered_helm_template_is_a_blocking_finding_with_file_and_line(capsys, tmp_path):
    chart = tmp_path / "deployment.yaml"
    chart.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n"
                     "    {{ include \"web.labels\" . }}\nspec:\n  replicas: 2\n")
    code, report, err = scan(capsys, chart, "--checkov", tmp_path / "unused")
    assert (code, err) == (1, "")
    [finding] = report["findings"]
    assert (finding["rule"], finding["file"], finding["line"], finding["blocking"]) == (
        "manifest-file", str(chart), 6, True)
    assert "mapping used as a key" in finding["message"]


def test_deep_nesting_is_a_blocking_finding(capsys, tmp_path):
    (tmp_path / "deep.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n  x: "
                                        + "[" * 400 + "]" * 400 + "\n")
    code, report, err = scan(capsys, tmp_path, "--checkov", tmp_path / "unused")
    assert (code, err) == (1, "")
    assert [(f["rule"], f["blocking"]) for f in report["findings"]] == [("manifest-file", True)]


def test_a_sticky_service_written_with_a_merge_key_is_found(capsys, tmp_path):
    (tmp_path / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: merged, namespace: shop}\n"
        "x-sticky: &sticky\n  sessionAffinity: ClientIP\nspec:\n  <<: *sticky\n  selector: {app: web}\n"
        "  ports: [{port: 80}]\n")
    code, report, _ = scan(capsys, tmp_path)
    assert code == 1
    assert [(f["rule"], f["engines"]) for f in report["findings"] if f["rule"] == "no-sticky-service"] == [
        ("no-sticky-service", ["rules", "checkov"])]


# ---- the policy configuration (issue 11) ----------------------------------------------------

SAMPLES = SCAN / "samples"
PRESETS = REPO / "policies" / "presets"


def test_the_statelessness_only_preset_blocks_only_on_our_rules(capsys):
    ours = {r.name for r in rules()}
    code, default, _ = scan(capsys, SAMPLES)
    assert code == 1 and any(f["rule"].startswith("CKV_K8S_") and f["blocking"] for f in default["findings"])
    code, report, _ = scan(capsys, SAMPLES, "--policy-pack-config", PRESETS / "statelessness-only.json")
    assert code == 1
    blocking = {f["rule"] for f in report["findings"] if f["blocking"]}
    assert blocking and blocking <= ours
    assert {"no-sticky-edge", "no-stateful-workloads", "no-persistent-volume-claims", "no-local-session-store",
            "min-replicas", "read-only-root-filesystem"} <= blocking
    advisory = {f["rule"] for f in report["findings"] if f["level"] == "advisory"}
    assert {"CKV_K8S_8", "CKV_K8S_43"} <= advisory and not advisory & ours
    assert len(report["findings"]) == len(default["findings"])  # the same findings, other levels
    edge = next(f for f in report["findings"] if f["rule"] == "no-sticky-edge" and "checkov" in f["engines"])
    assert "nginx.ingress.kubernetes.io/affinity: 'cookie'" in edge["message"]  # the rule's words, not its description


def test_levels_and_settings_reach_every_output_and_both_engines(capsys, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "svc.yaml").write_text(STICKY.format(annotations=""))
    (tmp_path / "m" / "obc.yaml").write_text("apiVersion: objectbucket.io/v1alpha1\nkind: ObjectBucketClaim\n"
                                             "metadata: {name: files, namespace: shop}\n"
                                             "spec: {storageClassName: gold}\n")
    (tmp_path / "cfg.json").write_text(json.dumps({
        "no-sticky-service": "advisory", "checkov-builtins": "disabled",
        "approved-bucket-storage-class": {"approvedStorageClasses": ["gold"]}}))
    code, report, _ = scan(capsys, tmp_path / "m", "--policy-pack-config", tmp_path / "cfg.json",
                           "--sarif", tmp_path / "r.sarif", "--junit", tmp_path / "r.xml")
    assert code == 0
    # the bucket class is approved for our rules and for our Checkov check alike; built-ins are off
    assert [(f["rule"], f["engines"], f["level"]) for f in report["findings"]] == [
        ("no-sticky-service", ["rules", "checkov"], "advisory")]
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert {r["level"] for r in sarif["runs"][0]["results"]} == {"warning"}
    junit = (tmp_path / "r.xml").read_text()
    assert "<failure" not in junit and "advisory [rules,checkov]" in junit


def test_checkov_judging_our_rule_otherwise_than_our_rules_blocks(capsys, tmp_path, monkeypatch):
    """The real Checkov runs our check with other settings than our rules (as a Checkov environment
    with other checks would): the violation only our rules find is reported, and the disagreement blocks."""
    from stateless_pack.gate.commands import scan as scan_command

    (tmp_path / "obc.yaml").write_text("apiVersion: objectbucket.io/v1alpha1\nkind: ObjectBucketClaim\n"
                                       "metadata: {name: files, namespace: shop}\n"
                                       "spec: {storageClassName: gold}\n")
    real = scan_command.CheckovProcess

    def other_settings(checkov_bin, **kwargs):
        return real(checkov_bin, **{**kwargs, "rule_settings": {
            "approved-bucket-storage-class": {"approvedStorageClasses": ["gold"]}}})

    monkeypatch.setattr(scan_command, "CheckovProcess", other_settings)
    code, report, _ = scan(capsys, tmp_path / "obc.yaml", "--policy-pack-config", PRESETS / "statelessness-only.json")
    assert code == 1
    assert sorted((f["rule"], f["engines"], f["blocking"]) for f in report["findings"]) == [
        ("approved-bucket-storage-class", ["rules"], True),
        ("engines-disagree", ["rules", "checkov"], True)]
    disagreement = next(f for f in report["findings"] if f["rule"] == "engines-disagree")
    assert "approved-bucket-storage-class and CKV_STL_" in disagreement["message"]
    assert "Checkov does not" in disagreement["message"] and disagreement["resource"] == "ObjectBucketClaim/shop/files"


def test_a_bad_policy_configuration_is_exit_2(capsys, tmp_path):
    (tmp_path / "cfg.json").write_text('{"no-sticky-services": "advisory"}')
    code, report, err = scan(capsys, SCAN / "clean", "--policy-pack-config", tmp_path / "cfg.json")
    assert (code, report) == (2, {})
    assert "no policy named 'no-sticky-services'" in err


# ---- lines (issue 11) -----------------------------------------------------------------------

def test_sarif_lines_of_resources_and_fields_in_a_multi_document_file(capsys, tmp_path):
    manifests = tmp_path / "all.yaml"
    manifests.write_text(
        "# three documents\n"                            # 1
        "apiVersion: v1\n"                               # 2  ConfigMap starts
        "kind: ConfigMap\n"                              # 3
        "metadata: {name: settings}\n"                   # 4
        "data: {a: b}\n"                                 # 5
        "---\n"                                          # 6
        "apiVersion: v1\n"                               # 7  Service starts
        "kind: Service\n"                                # 8
        "metadata:\n"                                    # 9
        "  name: sticky\n"                               # 10
        "  namespace: shop\n"                            # 11
        "spec:\n"                                        # 12
        "  selector: {app: web}\n"                       # 13
        "  sessionAffinity: ClientIP\n"                  # 14
        "  ports: [{port: 80}]\n"                        # 15
        "---\n"                                          # 16
        "apiVersion: v1\n"                               # 17 List starts
        "kind: List\n"                                   # 18
        "items:\n"                                       # 19
        "- apiVersion: v1\n"                             # 20 its Service starts
        "  kind: Service\n"                              # 21
        "  metadata: {name: other, namespace: shop}\n"   # 22
        "  spec:\n"                                      # 23
        "    sessionAffinity: ClientIP\n"                # 24
        "    ports: [{port: 80}]\n")                     # 25
    code, _, _ = scan(capsys, manifests, "--sarif", tmp_path / "r.sarif")
    assert code == 1
    results = json.loads((tmp_path / "r.sarif").read_text())["runs"][0]["results"]
    lines = [(r["ruleId"], ",".join(r["properties"]["engines"]),
              r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
              r["locations"][0]["physicalLocation"]["region"]["startLine"], r["properties"]["resourceLine"])
             for r in results]
    assert sorted(lines) == [
        ("CKV_K8S_21", "checkov", "ConfigMap/default/settings", 2, 2),
        ("no-sticky-service", "rules,checkov", "Service/shop/other", 24, 20),
        ("no-sticky-service", "rules,checkov", "Service/shop/sticky", 14, 7),
    ]
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("all.yaml") for r in results)


def test_annotations_written_as_a_list_cannot_hide_a_skip(capsys, tmp_path):
    """Checkov reads annotations given as a list of one-key mappings: the waiver pass reads them the
    same way, and Checkov itself never gets the skip (it still reports the check)."""
    (tmp_path / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: checkout\n  namespace: shop\n  annotations:\n"
        "  - checkov.io/skip1: CKV_STL_1=W-0001\n  - team: shop\n"
        "spec:\n  selector: {app: checkout}\n  sessionAffinity: ClientIP\n  ports: [{port: 80}]\n")
    code, report, _ = scan(capsys, tmp_path)
    assert code == 1
    blocking = {(f["rule"], ",".join(f["engines"]), f["path"]) for f in report["findings"] if f["blocking"]}
    assert ("unbacked-suppression", "waivers", 'metadata.annotations["checkov.io/skip1"]') in blocking
    assert ("no-sticky-service", "rules,checkov", "spec.sessionAffinity") in blocking
