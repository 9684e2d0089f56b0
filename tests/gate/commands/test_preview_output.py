"""`--out` is a copy of what was checked: Checkov reads a private folder of the run, and runs that
share one `--out` never swap results (the second waits for the first, or fails clearly)."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stateless_pack.gate.checkov import runner as checkov_runner
from stateless_pack.gate.cli import main
from stateless_pack.gate.render import manifests as render
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.paths import FIXTURES, REPO

GATE = FIXTURES / "gate"
VIOLATIONS = [("CKV2_K8S_6", "checkov", "Deployment/shop/no-netpol"),
              ("no-sticky-service", "crossguard,checkov", "Service/shop/sticky")]



def findings(path: Path) -> list:
    return sorted((f["rule"], ",".join(f["engines"]), f["resource"]) for f in json.loads(path.read_text())["findings"])


def test_checkov_reads_a_private_folder_and_out_is_a_copy_of_it(capsys, tmp_path, monkeypatch):
    seen = []
    real = checkov_runner.scan_with_checkov

    def spy(paths, **kwargs):
        seen.append([Path(p) for p in paths])
        seen.append(sorted(p.name for folder in seen[-1] for p in folder.glob("*.yaml")))
        return real(paths, **kwargs)

    monkeypatch.setattr(checkov_runner, "scan_with_checkov", spy)
    out = tmp_path / "m"
    code = main(["preview", str(GATE / "violations"), "--out", str(out), "--json", str(tmp_path / "r.json")])
    capsys.readouterr()
    assert code == 1 and findings(tmp_path / "r.json") == VIOLATIONS
    (folder,), read = seen
    assert out.resolve() not in (folder.resolve(), *folder.resolve().parents)  # never --out itself
    assert not folder.exists()  # the private folder is gone
    assert sorted(p.name for p in out.glob("*.yaml")) == read  # --out: exactly what Checkov read
    assert (out / render.MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")) == []  # no staging, no lock left


def test_checkov_gets_the_rendered_manifests_without_reading_them_back(capsys, tmp_path, monkeypatch):
    def no_reading(paths, **kwargs):
        raise AssertionError(f"read back: {paths}")

    monkeypatch.setattr(checkov_runner, "load_manifests", no_reading)
    code = main(["preview", str(GATE / "violations"), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json")])
    capsys.readouterr()
    assert code == 1 and findings(tmp_path / "r.json") == VIOLATIONS


def test_a_second_run_into_the_same_out_fails_clearly_when_the_first_keeps_it(capsys, tmp_path, monkeypatch):
    out = tmp_path / "m"
    monkeypatch.setattr(render, "LOCK_WAIT_SECONDS", 1.0)
    with open(tmp_path / ".m.lock", "a") as held:  # another run is publishing into `out`
        fcntl.flock(held, fcntl.LOCK_EX)
        code = main(["preview", str(GATE / "clean-app"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert captured.err.startswith(f"stateless-pack preview: error: cannot write the manifests to {out}: "
                                   f"{out} is in use by another stateless-pack run")
    assert "Traceback" not in captured.err
    assert "PASSED" not in captured.out and not out.exists()


def test_a_second_run_waits_for_the_first_to_finish_with_out(capsys, tmp_path):
    out = tmp_path / "m"
    held = open(tmp_path / ".m.lock", "a")
    fcntl.flock(held, fcntl.LOCK_EX)
    released = []
    threading.Timer(8.0, lambda: (released.append(time.time()), held.close())).start()
    code = main(["preview", str(GATE / "clean-app"), "--out", str(out), "--json", str(tmp_path / "r.json")])
    capsys.readouterr()
    assert code == 0 and released and findings(tmp_path / "r.json") == []
    assert (out / render.MARKER).stat().st_mtime >= released[0]  # published only once the first let go
    assert (out / "deployment_shop_web.yaml").is_file()


def test_two_previews_of_different_programs_into_one_out_each_get_their_own_findings(tmp_path):
    out = tmp_path / "shared"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    runs = {name: subprocess.Popen(
        [sys.executable, "-m", "stateless_pack.gate.cli", "preview", str(GATE / name), "--out", str(out),
         "--json", str(tmp_path / f"{name}.json")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for name in ("violations", "clean-app")}
    results = {name: (p.wait(timeout=600), p.stderr.read()) for name, p in runs.items()}
    assert results["violations"][0] == 1, results
    assert results["clean-app"][0] == 0, results
    assert findings(tmp_path / "violations.json") == VIOLATIONS
    assert findings(tmp_path / "clean-app.json") == []
    # --out holds one run's manifests, complete, never a mix of both
    names = sorted(p.name for p in out.glob("*.yaml"))
    assert names in (
        ["deployment_shop_web.yaml", "networkpolicy_shop_web.yaml", "poddisruptionbudget_shop_web-pdb.yaml",
         "service_shop_web.yaml"],
        ["deployment_shop_no-netpol.yaml", "deployment_shop_storefront.yaml", "networkpolicy_shop_storefront.yaml",
         "poddisruptionbudget_shop_no-netpol-pdb.yaml", "poddisruptionbudget_shop_storefront-pdb.yaml",
         "secret_shop_session-key.yaml", "service_shop_sticky.yaml"]), names


# ---- output paths: checked before any work ------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if the program would run: a bad path must end the command first."""
    from stateless_pack.gate.program import runner

    def ran(*args, **kwargs):
        raise AssertionError("the program ran")

    monkeypatch.setattr(runner, "run_program", ran)


def one_line_error(captured) -> str:
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1, captured.err
    return captured.err.rstrip("\n")


@pytest.mark.parametrize("option", ["--json", "--sarif", "--junit", "--state-export"])
def test_an_output_file_in_a_missing_folder_fails_first_and_makes_no_folder(capsys, tmp_path, no_work, option):
    target = tmp_path / "nonexistent" / "dir" / "x.json"
    code = main(["preview", str(GATE / "clean-app"), "--out", str(tmp_path / "m"), option, str(target)])
    assert code == 2
    assert one_line_error(capsys.readouterr()) == (
        f"stateless-pack preview: error: {option} {target}: the folder {target.parent} does not exist "
        "(create it first)")
    assert not (tmp_path / "nonexistent").exists() and not (tmp_path / "m").exists()


def test_an_output_file_the_system_refuses_fails_before_the_verdict(capsys, tmp_path, no_work):
    code = main(["preview", str(GATE / "clean-app"), "--out", str(tmp_path / "m"), "--json", "/proc/x.json"])
    assert code == 2
    assert one_line_error(capsys.readouterr()) == (
        "stateless-pack preview: error: --json /proc/x.json: cannot be written: No such file or directory")


@pytest.mark.parametrize("make, why", [
    (lambda out: out.parent.mkdir(), None),  # fine: --out itself is created
    (lambda out: None, "the folder {parent} does not exist (create it first)"),
    (lambda out: (out.parent.mkdir(), out.write_text("x")), "exists and is not a folder"),
    (lambda out: (out.mkdir(parents=True), (out / "mine.txt").write_text("x")),
     "is not empty and was not rendered by stateless-pack: choose another --out folder"),
])
def test_out_is_checked_first_and_only_it_is_created(capsys, tmp_path, no_work, make, why):
    out = tmp_path / "parent" / "m"
    make(out)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    code = main(["preview", str(GATE / "clean-app"), "--out", str(out), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    if why is None:  # the check passed: the program was next
        assert code == 2 and "the program ran" in captured.err
        return
    assert code == 2
    assert why.format(parent=out.parent) in one_line_error(captured)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_the_default_out_is_created_with_its_parent_and_reports_may_go_there(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a fresh checkout: no out/ yet
    code = main(["preview", str(GATE / "clean-app"), "--json", "out/r.json", "--sarif", "out/manifests/r.sarif"])
    capsys.readouterr()
    assert code == 0 and (tmp_path / "out" / "manifests" / render.MARKER).is_file()
    assert json.loads((tmp_path / "out" / "r.json").read_text())["summary"]["passed"] is True
    assert (tmp_path / "out" / "manifests" / "r.sarif").is_file()


def test_a_program_folder_that_does_not_exist_is_no_such_folder(capsys, tmp_path, no_work):
    code = main(["preview", str(tmp_path / "nope")])
    assert code == 2
    assert one_line_error(capsys.readouterr()) == f"stateless-pack preview: error: no such folder: {tmp_path / 'nope'}"
    (tmp_path / "file").write_text("")
    code = main(["preview", str(tmp_path / "file")])
    assert code == 2 and "is not a folder" in one_line_error(capsys.readouterr())


def test_a_report_that_cannot_be_written_at_the_end_fails_without_a_verdict(capsys, tmp_path, monkeypatch):
    from stateless_pack.gate.output import reports

    reports_dir = tmp_path / "reports"
    reports_dir.mkdir()
    real = reports.write_outputs

    def folder_gone(report, **kwargs):  # removed while the gate ran
        reports_dir.rmdir()
        return real(report, **kwargs)

    monkeypatch.setattr(reports, "write_outputs", folder_gone)
    code = main(["preview", str(GATE / "clean-app"), "--out", str(tmp_path / "m"),
                 "--json", str(reports_dir / "r.json")])
    captured = capsys.readouterr()
    assert code == 2
    assert "PASSED" not in captured.out and "BLOCKED" not in captured.out
    assert one_line_error(captured).startswith(f"stateless-pack preview: error: --json {reports_dir / 'r.json'}: "
                                               "cannot be written")


# ---- one finding per violation, the engines' agreement checked ------------------------------------

def test_checkov_judging_our_rule_otherwise_than_the_gate_and_the_pack_blocks(capsys, tmp_path, monkeypatch):
    """Checkov runs our check with other settings than the gate and the pack (as a Checkov environment
    with other checks would): the pack still agrees with the gate, the disagreement with Checkov blocks."""
    from support.programs import pulumi_program

    app = pulumi_program(tmp_path / "app", """\
        import pulumi_kubernetes as k8s
        k8s.apiextensions.CustomResource("files", api_version="objectbucket.io/v1alpha1", kind="ObjectBucketClaim",
                                         metadata={"name": "files", "namespace": "shop"},
                                         spec={"storageClassName": "gold"})
        """)
    real = checkov_runner.CheckovProcess.prestart.__func__

    def other_settings(cls, checkov_bin, **kwargs):
        settings = {"approved-bucket-storage-class": {"approvedStorageClasses": ["gold"]}}
        return real(cls, checkov_bin, **{**kwargs, "rule_settings": settings})

    monkeypatch.setattr(checkov_runner.CheckovProcess, "prestart", classmethod(other_settings))
    code = main(["preview", str(app), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json"),
                 "--policy-pack-config", str(REPO / "policies" / "presets" / "statelessness-only.json")])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert findings(tmp_path / "r.json") == [
        ("approved-bucket-storage-class", "crossguard", "ObjectBucketClaim/shop/files"),
        ("engines-disagree", "crossguard,checkov", "ObjectBucketClaim/shop/files")]
    assert "engines-disagree" in captured.out and "BLOCKED" in captured.out
    [disagreement] = [f for f in json.loads((tmp_path / "r.json").read_text())["findings"]
                      if f["rule"] == "engines-disagree"]
    assert "our rule finds a violation" in disagreement["message"] and "Checkov does not" in disagreement["message"]


def test_sarif_fingerprints_are_the_same_in_two_runs_into_two_folders(capsys, tmp_path):
    prints = []
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
        code = main(["preview", str(GATE / "violations"), "--out", str(tmp_path / run / "m"),
                     "--sarif", str(tmp_path / run / "r.sarif")])
        capsys.readouterr()
        assert code == 1
        results = json.loads((tmp_path / run / "r.sarif").read_text())["runs"][0]["results"]
        prints.append(sorted((r["ruleId"], r["partialFingerprints"]["statelessPack/v1"]) for r in results))
    assert prints[0] == prints[1] and len({p for _, p in prints[0]}) == len(prints[0]) == 2


def test_hostile_names_are_escaped_on_the_terminal_and_kept_in_the_json(capsys, tmp_path):
    from support.programs import pulumi_program

    name = "sticky\x1b[8m\rPASSED\u202e"
    app = pulumi_program(tmp_path / "app", f"""\
        import pulumi_kubernetes as k8s
        k8s.core.v1.Service("s", metadata={{"name": {name!r}, "namespace": "shop"}},
                            spec={{"selector": {{"app": "web"}}, "session_affinity": "ClientIP",
                                  "ports": [{{"port": 80}}]}})
        """)
    code = main(["preview", str(app), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    for raw in ("\x1b", "\r", "\u202e"):
        assert raw not in captured.out + captured.err, repr(raw)
    assert "Service/shop/sticky\\x1b[8m\\x0dPASSED\\u202e  (" in captured.out
    assert captured.out.splitlines()[-1].startswith("BLOCKED")
    assert f"Service/shop/{name}" in {f["resource"] for f in json.loads((tmp_path / "r.json").read_text())["findings"]}
