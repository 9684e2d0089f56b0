"""Every stage has a deadline and ends in exit 2 naming it: a hanging pack call, a program that runs
too long or leaves a process behind, a slow Checkov, a FIFO to read, an alias bomb for Checkov."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from stateless_pack.gate.cli import main
from stateless_pack.gate.pack.engine import PackError, Resource, launch_pack
from stateless_pack.gate.program.runner import ProgramError, run_program
from stateless_pack.gate.render.manifest_files import load_manifests
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.paths import FIXTURES
from support.programs import pulumi_program

GATE = FIXTURES / "gate"
HANGING_PACK = GATE / "hanging-pack"
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {sessionAffinity: ClientIP}\n"



def alive(pid_file: Path) -> bool:
    pid = int(pid_file.read_text())
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def processes_in(folder: Path) -> list:
    found = []
    for p in psutil.process_iter(["cwd"]):
        if p.info["cwd"] == str(folder):
            found.append(p)
    return found


def app(tmp_path: Path, body: str) -> Path:
    return pulumi_program(tmp_path / "app", body, name="slow")


# ---- the pack ------------------------------------------------------------------------------------

def test_a_pack_call_that_never_answers_fails_after_its_deadline():
    with launch_pack(HANGING_PACK, call_timeout=2) as pack:
        pack.client.configure()
        started = time.monotonic()
        with pytest.raises(PackError, match=r"Analyze did not answer within 2s \(--timeout-pack\)"):
            pack.client.analyze(Resource(type="kubernetes:core/v1:ConfigMap", name="c",
                                         properties={"metadata": {"name": "c"}}))
        assert time.monotonic() - started < 30


def test_preview_with_a_hanging_pack_exits_2_naming_the_stage(capsys, tmp_path):
    code = main(["preview", str(GATE / "clean-app"), "--out", str(tmp_path / "m"), "--pack", str(HANGING_PACK),
                 "--timeout-pack", "2"])
    captured = capsys.readouterr()
    assert code == 2 and "the policy pack failed" in captured.err and "--timeout-pack" in captured.err
    assert "PASSED" not in captured.out
    assert processes_in(HANGING_PACK) == []  # the pack was stopped with everything it started


# ---- the program ---------------------------------------------------------------------------------

def test_a_program_that_leaves_a_process_running_does_not_keep_the_gate_waiting(tmp_path):
    pid_file = tmp_path / "leftover.pid"
    folder = app(tmp_path, f"""\
        import subprocess
        import pulumi_kubernetes as k8s
        k8s.core.v1.ConfigMap("c", metadata={{"name": "c", "namespace": "shop"}})
        leftover = subprocess.Popen(["sleep", "600"])  # inherits the program's stdout and stderr
        open({str(pid_file)!r}, "w").write(str(leftover.pid))
        """)
    done = []
    worker = threading.Thread(target=lambda: done.append(run_program(folder)), daemon=True)
    worker.start()
    worker.join(60)
    assert done, "the gate waited for a process the program left behind"
    assert [r.name for r in done[0].resources if r.custom] == ["c"]
    assert not alive(pid_file)


def test_a_program_past_its_deadline_is_stopped_with_its_processes(tmp_path):
    pid_file = tmp_path / "child.pid"
    folder = app(tmp_path, f"""\
        import subprocess, time
        open({str(pid_file)!r}, "w").write(str(subprocess.Popen(["sleep", "600"]).pid))
        time.sleep(600)
        """)
    started = time.monotonic()
    with pytest.raises(ProgramError, match=r"did not finish within 2s \(--timeout-program\)"):
        run_program(folder, timeout=2)
    assert time.monotonic() - started < 30 and not alive(pid_file)


def test_preview_names_the_program_deadline(capsys, tmp_path):
    folder = app(tmp_path, "import time\ntime.sleep(600)\n")
    code = main(["preview", str(folder), "--out", str(tmp_path / "m"), "--timeout-program", "2"])
    captured = capsys.readouterr()
    assert code == 2 and "--timeout-program" in captured.err and "PASSED" not in captured.out


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_deadline_must_be_a_positive_number_of_seconds(capsys, value):
    with pytest.raises(SystemExit) as exited:
        main(["preview", ".", "--timeout-program", value])
    assert exited.value.code == 2 and "seconds > 0" in capsys.readouterr().err


# ---- Checkov and the files it would read ---------------------------------------------------------

def test_a_checkov_past_its_deadline_is_stopped_with_its_workers(capsys, tmp_path):
    pid_file = tmp_path / "worker.pid"
    slow = tmp_path / "slow-checkov"
    slow.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {pid_file}\nwait\n")
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "svc.yaml").write_text(SERVICE)
    started = time.monotonic()
    code = main(["scan", str(tmp_path / "svc.yaml"), "--checkov", str(slow), "--timeout-checkov", "2"])
    captured = capsys.readouterr()
    assert code == 2 and "did not finish within 2s (--timeout-checkov)" in captured.err
    assert time.monotonic() - started < 60 and not alive(pid_file)


def bomb(levels: int = 9) -> str:
    lines = ["  l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: laughs, namespace: shop}\ndata:\n" + "\n".join(lines) + "\n"


def test_the_loader_refuses_an_alias_bomb_so_checkov_never_gets_it(tmp_path):
    (tmp_path / "bomb.yaml").write_text(bomb())
    loaded, problems = load_manifests([str(tmp_path / "bomb.yaml")])
    assert loaded == [] and len(problems) == 1
    assert "alias bomb" in problems[0].message and problems[0].line == 1


def test_scan_reports_an_alias_bomb_at_once_and_checks_the_rest(tmp_path):
    (tmp_path / "bomb.yaml").write_text(bomb())
    (tmp_path / "svc.yaml").write_text(SERVICE)
    done = subprocess.run([sys.executable, "-m", "stateless_pack.gate.cli", "scan", str(tmp_path), "--format",
                           "json"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    found = {(f["rule"], f["resource"]) for f in report["findings"]}
    assert ("manifest-file", f"{tmp_path / 'bomb.yaml'}:1") in found
    assert ("no-sticky-service", "Service/shop/web") in found


def test_a_fifo_named_yaml_never_hangs_scan(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "svc.yaml").write_text(SERVICE)
    done = subprocess.run([sys.executable, "-m", "stateless_pack.gate.cli", "scan", str(tmp_path), "--format",
                           "json", "--timeout-load", "3"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    # the loader reports the FIFO as a finding, or the loading stage runs out of time: never a wait
    assert ("pipe.yaml" in done.stdout) or ("loading the manifests did not finish within 3s" in done.stderr)
