"""`stateless-pack config show|check`: the shipped presets and checking a configuration file."""
from __future__ import annotations

import json

from stateless_pack.gate.cli import main
from stateless_pack.policies.policy_config import PRESETS, PolicyConfig


def run(capsys, *args):
    code = main(["config", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_show_lists_the_presets_and_prints_one_that_checks(capsys, tmp_path):
    code, out, _ = run(capsys, "show")
    assert code == 0 and [line.split(":")[0] for line in out.splitlines()] == list(PRESETS)
    code, out, _ = run(capsys, "show", "statelessness-only")
    assert code == 0 and json.loads(out)["checkov-builtins"] == "advisory"
    (tmp_path / "mine.json").write_text(out)
    code, out, _ = run(capsys, "check", tmp_path / "mine.json")
    assert code == 0 and "no-sticky-service: mandatory" in out
    assert "Checkov built-in checks: advisory unless set by id" in out
    assert PolicyConfig.load(tmp_path / "mine.json").entries == PolicyConfig.preset("statelessness-only").entries


def test_check_lists_levels_and_settings_and_rejects_mistakes(capsys, tmp_path):
    (tmp_path / "c.json").write_text('{"all": "advisory", "min-replicas": {"minReplicas": 3}, "CKV_K8S_8": "disabled"}')
    code, out, _ = run(capsys, "check", tmp_path / "c.json")
    assert code == 0
    assert "min-replicas: advisory {'minReplicas': 3}" in out and "; CKV_K8S_8: disabled" in out
    (tmp_path / "bad.json").write_text('{"min-replicas": {"minReplicas": 0}}')
    code, out, err = run(capsys, "check", tmp_path / "bad.json")
    assert (code, out) == (2, "") and "less than the minimum of 1" in err
