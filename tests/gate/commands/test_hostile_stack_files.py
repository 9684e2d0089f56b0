"""The stack's own files cannot take the machine down: a waiver registry, a policy configuration, a
stack config, an approvers file or a chart's values file that is a link to /dev/zero, a FIFO or a huge
file is refused in one line, at once, by `preview`, `scan`, `waivers validate` and `config check`, run
as a pipeline runs them (subprocesses; each under a memory limit, so that a reader that did not
refuse fails here instead of exhausting the machine)."""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from support.paths import FIXTURES

CLEAN_APP = FIXTURES / "gate" / "clean-app"
CLEAN_MANIFESTS = FIXTURES / "scan" / "clean"
MEMORY_LIMIT = 4 * 1024 ** 3
HOSTILE = ("dev-zero", "fifo")
REASON = {"dev-zero": "not a regular file (a device): not read", "fifo": "not a regular file (a FIFO): not read"}


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


def stateless_pack(*args, cwd: Path, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("STATELESS_PACK_WAIVERS", "STATELESS_PACK_CHECKOV")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "stateless_pack.gate.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=_limited)
    return done, time.monotonic() - started


def hostile(path: Path, kind: str) -> Path:
    """`path` made a link to /dev/zero or a FIFO nobody writes to."""
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    return path


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def project(tmp_path) -> Path:
    """The clean app, copied: its registry and stack config are the test's to replace."""
    copy = tmp_path / "app"
    shutil.copytree(CLEAN_APP, copy)
    return copy


# ---- the commands that only read the file: refused within a second of starting ------------------------

@pytest.mark.parametrize("kind", HOSTILE)
def test_waivers_validate_refuses_the_registry(tmp_path, kind):
    registry = hostile(tmp_path / "waivers.yaml", kind)
    done, took = stateless_pack("waivers", "validate", tmp_path, cwd=tmp_path, timeout=20)
    assert done.returncode == 1, done.stdout + done.stderr
    assert one_line(done.stdout) == f"invalid: {registry}: {REASON[kind]}"
    assert took < 10  # the command's own start-up; the refusal itself: tests/policies/test_safe_files.py


@pytest.mark.parametrize("kind", HOSTILE)
def test_waivers_validate_refuses_the_packs_approvers_instead_of_using_the_shipped_ones(tmp_path, kind):
    (tmp_path / "waivers.yaml").write_text("version: 1\nwaivers: []\n")
    (tmp_path / "pack").mkdir()
    approvers = hostile(tmp_path / "pack" / "approvers.yaml", kind)
    done, _ = stateless_pack("waivers", "validate", tmp_path, "--pack", tmp_path / "pack", cwd=tmp_path, timeout=20)
    assert done.returncode == 1, done.stdout + done.stderr
    assert one_line(done.stdout) == f"invalid: {approvers}: {REASON[kind]}"


@pytest.mark.parametrize("kind", HOSTILE)
def test_config_check_refuses_the_policy_configuration(tmp_path, kind):
    config = hostile(tmp_path / "cfg.json", kind)
    done, took = stateless_pack("config", "check", config, cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    assert one_line(done.stderr) == f"stateless-pack config check: error: {config}: {REASON[kind]}"
    assert took < 10


def test_a_20_mb_registry_is_refused(tmp_path):
    (tmp_path / "waivers.yaml").write_bytes(b"version: 1\nwaivers: []\n" + b"# padding\n" * 2_000_000)
    done, _ = stateless_pack("waivers", "validate", tmp_path, cwd=tmp_path, timeout=20)
    assert done.returncode == 1
    assert one_line(done.stdout) == f"invalid: {tmp_path / 'waivers.yaml'}: larger than 4 MiB: not read"


def test_a_registry_that_is_a_link_to_a_regular_file_still_works(tmp_path):
    today = date.today()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "registry.yaml").write_text(yaml.safe_dump({"version": 1, "waivers": [{
        "id": "W-0001", "rules": ["min-replicas"], "scope": {"kind": "Deployment", "namespace": "shop", "name": "web"},
        "reason": "One instance while the team moves its cache out of process.",
        "approved_by": "max.mustermann@example.org", "approver_role": "platform-lead", "reference": "SHOP-7",
        "created": str(today - timedelta(days=1)), "expires": str(today + timedelta(days=30))}]}))
    (tmp_path / "waivers.yaml").symlink_to(tmp_path / "shared" / "registry.yaml")
    done, _ = stateless_pack("waivers", "validate", tmp_path, cwd=tmp_path, timeout=20)
    assert done.returncode == 0, done.stdout + done.stderr
    assert one_line(done.stdout).startswith(f"ok: {tmp_path / 'waivers.yaml'}: 1 waiver(s), none expired")


# ---- scan ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", HOSTILE)
def test_scan_refuses_the_policy_configuration(tmp_path, kind):
    config = hostile(tmp_path / "cfg.json", kind)
    done, took = stateless_pack("scan", CLEAN_MANIFESTS, "--policy-pack-config", config, cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    assert one_line(done.stderr) == f"stateless-pack scan: error: {config}: {REASON[kind]}"
    assert took < 10


@pytest.mark.parametrize("kind", HOSTILE)
def test_scan_blocks_on_the_registry_it_refused(tmp_path, kind):
    registry = hostile(tmp_path / "waivers.yaml", kind)
    done, _ = stateless_pack("scan", CLEAN_MANIFESTS, "--waivers", registry, "--format", "json",
                             cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stderr
    [problem] = [f for f in json.loads(done.stdout)["findings"] if f["blocking"]]
    assert problem["rule"] == "waiver-registry"
    assert one_line(problem["message"]).endswith(f"{registry}: {REASON[kind]}")


# ---- preview ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", HOSTILE)
def test_preview_refuses_the_policy_configuration(project, tmp_path, kind):
    config = hostile(tmp_path / "cfg.json", kind)
    done, took = stateless_pack("preview", project, "--policy-pack-config", config, "--out", tmp_path / "out",
                                cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert one_line(done.stderr) == f"stateless-pack preview: error: --policy-pack-config: {config}: {REASON[kind]}"
    assert took < 10


@pytest.mark.parametrize("kind", HOSTILE)
def test_preview_refuses_the_stack_config(project, tmp_path, kind):
    (project / "Pulumi.dev.yaml").unlink()
    stack_file = hostile(project / "Pulumi.dev.yaml", kind)
    done, took = stateless_pack("preview", project, "--out", tmp_path / "out", cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert one_line(done.stderr) == f"stateless-pack preview: error: cannot read {stack_file}: {REASON[kind]}"
    assert took < 10


@pytest.mark.parametrize("kind", HOSTILE)
def test_preview_blocks_on_the_registry_it_refused(project, tmp_path, kind):
    registry = hostile(project / "waivers.yaml", kind)
    report = tmp_path / "report.json"
    done, _ = stateless_pack("preview", project, "--out", tmp_path / "out", "--json", report,
                             cwd=tmp_path, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    blocking = [f for f in json.loads(report.read_text())["findings"] if f["blocking"]]
    assert {f["rule"] for f in blocking} == {"waiver-registry"}
    assert all(one_line(f["message"]).endswith(f"{registry}: {REASON[kind]}") for f in blocking)


@pytest.mark.parametrize("kind", HOSTILE)
def test_scan_refuses_a_charts_values_file_before_helm_reads_it(tmp_path, kind):
    values = hostile(tmp_path / "values.yaml", kind)
    done, took = stateless_pack("scan", FIXTURES / "charts" / "webapp", "-f", values, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert one_line(done.stderr) == f"stateless-pack scan: error: values file {values}: {REASON[kind]}"
    assert took < 10
