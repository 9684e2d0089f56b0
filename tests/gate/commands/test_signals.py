"""SIGTERM/SIGINT on a real `stateless-pack preview`/`scan`: exit 2 with one line, no process and no
temporary file left behind, and no secret ever written to disk on the way."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from support.typescript_examples import TYPESCRIPT


SECRET = "SIGNAL-TEST-SECRET-2b1d"


def gate(tmp_path: Path, *args: str) -> subprocess.Popen:
    """The command in a process of its own, with a private TMPDIR."""
    (tmp_path / "tmp").mkdir()
    registry = tmp_path / "waivers.yaml"
    registry.write_text("version: 1\nwaivers: []\n")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "STATELESS_PACK_WAIVERS": str(registry),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("STATELESS_PACK_CHECKOV", None)
    return subprocess.Popen([sys.executable, "-m", "stateless_pack.gate.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _slow_project(tmp_path: Path, runtime: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Pulumi.yaml").write_text(f"name: slow\nruntime: {runtime}\nconfig:\n  token:\n    type: string\n"
                                      "    secret: true\n")
    (app / "Pulumi.dev.yaml").write_text(f"config:\n  slow:token: {SECRET}\n")
    return app


def slow_program(tmp_path: Path) -> Path:
    """Registers a resource with a secret, starts a process of its own, then takes its time."""
    app = _slow_project(tmp_path, "python")
    (app / "__main__.py").write_text(textwrap.dedent("""\
        import subprocess, time
        import pulumi
        import pulumi_kubernetes as k8s
        token = pulumi.Config().require_secret("token")
        k8s.core.v1.Secret("s", metadata={"name": "s", "namespace": "shop"}, string_data={"t": token})
        subprocess.Popen(["sleep", "300"])
        time.sleep(300)
        """))
    return app


def slow_node_program(tmp_path: Path) -> Path:
    """The same in TypeScript (the examples' npm packages, linked)."""
    app = _slow_project(tmp_path, "nodejs")
    (app / "package.json").write_text('{"name": "slow", "private": true}')
    (app / "node_modules").symlink_to(TYPESCRIPT / "node_modules", target_is_directory=True)
    (app / "index.ts").write_text(textwrap.dedent("""\
        import * as child_process from "child_process";
        import * as pulumi from "@pulumi/pulumi";
        import * as k8s from "@pulumi/kubernetes";
        const token = new pulumi.Config().requireSecret("token");
        new k8s.core.v1.Secret("s", { metadata: { name: "s", namespace: "shop" }, stringData: { t: token } });
        child_process.spawn("sleep", ["300"], { stdio: "ignore" });
        setTimeout(() => undefined, 300_000);
        """))
    return app


PROGRAMS = pytest.mark.parametrize("program_of", [slow_program, slow_node_program], ids=["python", "nodejs"])


class SecretWatch(threading.Thread):
    """Reads every file under a folder (but the program's own), over and over, for the secret."""

    def __init__(self, folder: Path, program: Path):
        super().__init__(daemon=True)
        self.folder, self.program, self.leaks, self.done = folder, program, set(), threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self._look()
            except OSError:
                pass  # a folder removed while we walked it: the next pass looks again
            time.sleep(0.02)

    def _look(self) -> None:
        for path in self.folder.rglob("*"):
            if self.program in path.parents:
                continue
            try:
                if path.is_file() and SECRET.encode() in path.read_bytes():
                    self.leaks.add(str(path))
            except OSError:
                pass  # removed while we looked

    def stop(self) -> set:
        self.done.set()
        self.join()
        return self.leaks


def wait_for_children(process: subprocess.Popen, *needles: str, timeout: float = 120) -> list:
    """The command's process tree once every needle is in some command line."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        assert process.poll() is None, process.communicate()
        tree = psutil.Process(process.pid).children(recursive=True)
        lines = []
        for child in tree:
            try:
                lines.append(" ".join(child.cmdline()))
            except psutil.Error:
                pass
        if all(any(n in line for line in lines) for n in needles):
            return tree
        time.sleep(0.1)
    pytest.fail(f"never saw {needles} among the children")


def stopped(process: subprocess.Popen, tree: list, sig: int) -> tuple[int, str]:
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the command did not stop within 60 s of the signal")
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == [], f"left running: {[p.pid for p in alive]}"
    return process.returncode, err


@PROGRAMS
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_preview_and_everything_it_started(tmp_path, sig, program_of):
    program = program_of(tmp_path)
    watch = SecretWatch(tmp_path, program)  # the private TMPDIR, --out and everything else of the test
    preview = gate(tmp_path, "preview", str(program), "--out", str(tmp_path / "m"))
    tree = wait_for_children(preview, "program.supervisor", "pulumi.policy", "checkov", "sleep 300")
    code, err = stopped(preview, tree, sig)
    assert code == 2
    assert err.strip().splitlines() == [
        f"stateless-pack preview: error: stopped by {signal.Signals(sig).name}: the program, the policy pack "
        "and Checkov were stopped; nothing was checked"]
    assert list((tmp_path / "tmp").iterdir()) == []
    assert watch.stop() == set(), "the secret was written to disk"


def test_sigterm_stops_scan_and_checkov_with_its_workers(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for i in range(40):  # enough for Checkov to be busy when the signal comes
        (manifests / f"svc{i}.yaml").write_text(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, "
                                                "namespace: shop}\nspec: {sessionAffinity: ClientIP}\n")
    scan = gate(tmp_path, "scan", str(manifests))
    tree = wait_for_children(scan, "checkov")
    code, err = stopped(scan, tree, signal.SIGTERM)
    assert code == 2
    assert err.strip().splitlines() == [
        "stateless-pack scan: error: stopped by SIGTERM: Checkov was stopped; nothing was checked"]
    assert list((tmp_path / "tmp").iterdir()) == []


@PROGRAMS
def test_sigkill_of_preview_leaves_no_pack_and_no_program_running(tmp_path, program_of):
    # No handler runs on SIGKILL (nor on the OOM killer's): the pack, a gRPC server, would wait for
    # calls forever and the program would run on. They watch the gate and end with it
    # (policies/gate_lifetime.py); the streamed Checkov ends when its input closes.
    program = program_of(tmp_path)
    preview = gate(tmp_path, "preview", str(program), "--out", str(tmp_path / "m"))
    tree = wait_for_children(preview, "program.supervisor", "pulumi.policy", "checkov", "sleep 300")
    preview.kill()
    preview.communicate(timeout=60)
    _, alive = psutil.wait_procs(tree, timeout=60)
    left = []
    for process in alive:  # named, then not left to the next test
        try:
            left.append(" ".join(process.cmdline()))
            process.kill()
        except psutil.Error:
            pass
    assert left == []


def test_sigterm_stops_preview_of_a_program_with_huge_output_and_a_daemon(tmp_path):
    """300 MB on stdout and stderr, a 50 MB error message, a daemon in a session of its own: the run
    ends within its deadline, and SIGTERM during it ends everything within seconds; no folder left."""
    token = f"777.{os.getpid()}"
    app = tmp_path / "app"
    app.mkdir()
    (app / "Pulumi.yaml").write_text("name: huge\nruntime: python\n")
    (app / "__main__.py").write_text(textwrap.dedent(f"""\
        import os, subprocess, sys, time
        subprocess.Popen(["setsid", "sleep", "{token}"])
        chunk = "y" * (1 << 20)
        for _ in range(300):
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
        if os.environ.get("HANG"):
            time.sleep(600)
        raise RuntimeError("x" * 50_000_000)
        """))
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    command = [sys.executable, "-m", "stateless_pack.gate.cli", "preview", str(app), "--timeout-program", "120"]
    started = time.monotonic()
    done = subprocess.run(command + ["--out", str(tmp_path / "m")], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 2 and "RuntimeError: xxxx" in done.stderr and "characters cut" in done.stderr
    assert time.monotonic() - started < 120 and len(done.stderr) < 400_000
    assert list((tmp_path / "tmp").iterdir()) == []
    hanging = subprocess.Popen(command + ["--out", str(tmp_path / "m2")], env={**env, "HANG": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = wait_for_children(hanging, "program.supervisor", token)
    time.sleep(1)  # into its output
    signalled = time.monotonic()
    code, err = stopped(hanging, tree, signal.SIGTERM)
    assert time.monotonic() - signalled < 15
    assert code == 2 and "stopped by SIGTERM" in err
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not [p for p in psutil.process_iter(["cmdline"]) if token in " ".join(p.info["cmdline"] or [])]
