"""`stateless-pack waivers list|expiring|validate`: output and exit codes a pipeline relies on."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stateless_pack.gate.commands import waivers as waivers_command
from support.paths import FIXTURES as FIXTURE_ROOT, REPO as REPO_ROOT

FIXTURES = FIXTURE_ROOT / "waivers"
REGISTRY = FIXTURES / "command.yaml"   # W-0001 to 2027-01-29, W-0002 to 2026-12-15, W-0003 expired 2026-11-30
APPROVERS = FIXTURES / "approvers.yaml"
INVALID = FIXTURES / "invalid" / "sticky-by-platform-lead.yaml"
ROOT = REPO_ROOT


def run(capsys, *argv, registry=REGISTRY, today="2026-12-01"):
    parser = argparse.ArgumentParser(prog="stateless-pack")
    waivers_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["waivers", *argv, "--registry", str(registry), "--approvers",
                              str(APPROVERS), "--today", today])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def first_column(out):
    return [line.split("\t")[0] for line in out.splitlines()]


# ---- list --------------------------------------------------------------------------------------

def test_list_prints_every_waiver_with_status_and_exits_0(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    rows = [line.split("\t") for line in out.splitlines()]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("W-0001", "active", "2027-01-29", "59d"),
        ("W-0002", "active", "2026-12-15", "14d"),
        ("W-0003", "expired", "2026-11-30", "-1d"),
    ]
    assert rows[0][4] == "no-sticky-service" and rows[0][6] == "hod@example.org (head-of-devops)"


def test_list_json(capsys):
    code, out, _ = run(capsys, "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == ["W-0001", "W-0002", "W-0003"]
    assert rows[1]["scope"] == {"namespace": "shop",
                                "urn": "urn:pulumi:dev::shop::kubernetes:apps/v1:Deployment::legacy-*"}


def test_list_of_an_invalid_registry_exits_1_with_located_problems_on_stderr(capsys):
    code, out, err = run(capsys, "list", registry=INVALID)
    assert code == 1 and out == ""
    assert f"invalid: {INVALID}: waivers[0] W-0001: approver_role: rule 'no-sticky-service'" in err


# ---- expiring ----------------------------------------------------------------------------------

def test_expiring_exits_1_and_lists_expired_and_soon_expiring(capsys):
    code, out, _ = run(capsys, "expiring", "--days", "14")
    assert code == 1 and first_column(out) == ["W-0002", "W-0003"]


def test_expiring_window_boundary(capsys):
    code, out, _ = run(capsys, "expiring", "--days", "13")
    assert code == 1 and first_column(out) == ["W-0003"]


def test_expiring_exits_0_when_nothing_expires_within_the_window(capsys):
    code, out, _ = run(capsys, "expiring", "--days", "13", today="2026-11-16")
    assert code == 0 and out == ""
    code, out, _ = run(capsys, "expiring", "--days", "14", today="2026-11-16")
    assert code == 1 and first_column(out) == ["W-0003"]  # 2026-11-30 is 14 days after 11-16


def test_expiring_of_an_invalid_registry_exits_1(capsys):
    code, _, err = run(capsys, "expiring", "--days", "30", registry=INVALID)
    assert code == 1 and "invalid:" in err


# ---- validate ----------------------------------------------------------------------------------

def test_validate_exits_0_when_valid_and_nothing_expired(capsys):
    code, out, _ = run(capsys, "validate", today="2026-11-30")
    assert code == 0 and out.startswith(f"ok: {REGISTRY}: 3 waiver(s), none expired")


def test_validate_exits_1_on_an_expired_waiver(capsys):
    code, out, _ = run(capsys, "validate", today="2026-12-01")
    assert code == 1
    assert out.splitlines() == [f"expired: {REGISTRY}: W-0003: expired on 2026-11-30 (rules CKV_STL_1; "
                                "renew it with a new approval or remove it)"]


@pytest.mark.parametrize("case", sorted((FIXTURES / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_validate_exits_1_on_every_malformed_registry(capsys, case):
    code, out, _ = run(capsys, "validate", registry=case)
    assert code == 1
    assert out and all(line.startswith(f"invalid: {case}") for line in out.splitlines())


def test_validate_json(capsys):
    code, out, _ = run(capsys, "validate", "--json", registry=INVALID)
    report = json.loads(out)
    assert code == 1 and report["valid"] is False and len(report["problems"]) == 1
    code, out, _ = run(capsys, "validate", "--json")
    report = json.loads(out)
    assert code == 1 and report["problems"] == [] and [w["id"] for w in report["expired"]] == ["W-0003"]


def test_missing_registry_file_exits_1(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", registry=tmp_path / "waivers.yaml")
    assert code == 1 and "file not found" in out


@pytest.mark.parametrize("argv", [["expiring", "--days", "-1"], ["expiring", "--days", "soon"],
                                  ["validate", "--today", "31.12.2026"], ["frobnicate"]])
def test_usage_errors_exit_2(argv):
    parser = argparse.ArgumentParser(prog="stateless-pack")
    waivers_command.register(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["waivers", *argv])
    assert caught.value.code == 2


def test_registry_location_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("STATELESS_PACK_WAIVERS", str(INVALID))
    parser = argparse.ArgumentParser(prog="stateless-pack")
    waivers_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["waivers", "validate", "--approvers", str(APPROVERS)])
    assert args.func(args) == 1
    assert str(INVALID) in capsys.readouterr().out


# ---- through the real `stateless-pack` entry point ------------------------------------------------

def test_the_stateless_pack_command_runs_waivers_validate():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("STATELESS_PACK_WAIVERS", None)
    base = [sys.executable, "-m", "stateless_pack.gate.cli", "waivers", "validate", "--registry", str(REGISTRY),
            "--approvers", str(APPROVERS)]
    ok = subprocess.run([*base, "--today", "2026-11-30"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert (ok.returncode, ok.stderr) == (0, "") and ok.stdout.startswith("ok:")
    expired = subprocess.run([*base, "--today", "2026-12-01"], capture_output=True, text=True, env=env,
                             cwd=ROOT)
    assert expired.returncode == 1 and "W-0003" in expired.stdout
