"""The two stacks the README promises: the violating example is blocked with every rule firing
exactly where `expected_findings.yaml` says; the reference stack passes with no finding and no waiver."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stateless_pack.policies.catalog import rules
from support.paths import REPO as REPO_ROOT

ROOT = REPO_ROOT
EXAMPLE = ROOT / "examples" / "violates-every-rule"


def run_gate(program: Path, out: Path) -> tuple[int, dict, str]:
    # A subprocess, as a pipeline runs it: the console script's real exit code and environment.
    out.mkdir(parents=True, exist_ok=True)  # the gate makes --out, never a missing parent of it
    proc = subprocess.run(
        [sys.executable, "-m", "stateless_pack.gate.cli", "preview", str(program),
         "--out", str(out / "manifests"), "--json", str(out / "report.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in __import__("os").environ.items() if not k.startswith("STATELESS_PACK_")})
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return proc.returncode, report, proc.stdout + proc.stderr


def findings(report: dict) -> list[dict]:
    return report["findings"] if isinstance(report, dict) else report


@pytest.fixture(scope="module")
def violating_run(tmp_path_factory):
    return run_gate(EXAMPLE, tmp_path_factory.mktemp("violating"))


def test_violating_example_is_blocked(violating_run):
    code, _, output = violating_run
    assert code == 1, output


def test_every_rule_fires_exactly_where_expected(violating_run):
    _, report, output = violating_run
    expected = {(e["rule"], e["resource"]) for e in yaml.safe_load((EXAMPLE / "expected_findings.yaml").read_text())}
    ours = {r.name: r for r in rules()}
    assert {rule for rule, _ in expected} == set(ours), "the example must break every rule of the catalog"
    for engine in ("crossguard", "checkov"):
        found = {(f["rule"], f["resource"]) for f in findings(report)
                 if engine in f["engines"] and f["rule"] in ours}
        # Checkov cannot express stack rules (they run in the pack and our adapter only).
        want = {(rule, res) for rule, res in expected if engine == "crossguard" or not ours[rule].stack}
        assert found == want, f"{engine}: {output}"
    assert all(f["blocking"] for f in findings(report) if f["rule"] in ours)


def test_reference_stack_passes_with_no_finding_and_no_waiver(tmp_path):
    code, report, output = run_gate(ROOT, tmp_path)
    assert code == 0, output
    assert findings(report) == [], output
    assert "0 waived finding(s)" in output, output
