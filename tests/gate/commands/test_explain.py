"""`stateless-pack explain NAME`: the full text of a rule or check, its level and settings."""
from __future__ import annotations

import pytest

from stateless_pack.gate.cli import main
from stateless_pack.policies.catalog import rule_by_name


def explain(capsys, *args):
    code = main(["explain", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", ["no-sticky-edge", "CKV_STL_2"])
def test_a_rule_by_name_or_checkov_id(capsys, name):
    code, out, _ = explain(capsys, name)
    rule = rule_by_name("no-sticky-edge")
    assert code == 0 and out.startswith("no-sticky-edge: rule (sessions)\nLevel: mandatory\n")
    flat = " ".join(out.split())
    assert " ".join(rule.description.split()) in flat and " ".join(rule.remediation.split()) in flat
    assert "docs/policies.md#no-sticky-edge" in out


def test_settings_and_levels_from_a_configuration(capsys, tmp_path):
    (tmp_path / "c.json").write_text('{"min-replicas": {"enforcementLevel": "advisory", "minReplicas": 3}}')
    code, out, _ = explain(capsys, "min-replicas", "--policy-pack-config", tmp_path / "c.json")
    assert code == 0 and "Level: advisory" in out
    assert "minReplicas (integer, default 2, configured 3)" in out


@pytest.mark.parametrize("name, first", [
    ("stale-waiver", "stale-waiver: waiver policy\nLevel: advisory"),
    ("not-checked-by-checkov", "not-checked-by-checkov: check of the gate\nLevel: mandatory"),
    ("manifest-file", "manifest-file: check of the gate\nLevel: mandatory (always)"),
    ("CKV_K8S_8", "CKV_K8S_8: Checkov 3.3.30 built-in check\nLevel: mandatory"),
])
def test_waiver_policies_gate_checks_and_checkov_checks(capsys, name, first):
    code, out, _ = explain(capsys, name)
    assert code == 0 and out.startswith(first)


def test_an_unknown_name_exits_2_with_suggestions(capsys):
    code, out, err = explain(capsys, "no-sticky-servce")
    assert (code, out) == (2, "") and "did you mean no-sticky-service" in err
