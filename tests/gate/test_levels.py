"""gate/levels.py: the policy configuration's levels on the gate's findings, and the pack agreeing
with the gate on the same configuration file (the pack driven over gRPC like the engine)."""
from __future__ import annotations

import json

import pytest

from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.levels import apply_levels
from stateless_pack.gate.pack.engine import launch_pack
from stateless_pack.gate.rule_findings import rule_findings
from stateless_pack.policies.catalog import rules
from stateless_pack.policies.policy_config import PolicyConfig
from stateless_pack.policies.waivers.model import ResourceRef
from support.pack_harness import PACK_DIR, resource_of
from support.rule_fixtures import load_fixtures

FIXTURES = load_fixtures()
LEVELS = ("advisory", "disabled", "mandatory")
# Every rule at one of the three levels, a setting that changes an outcome, and entries only the gate reads.
CONFIG_TEXT = json.dumps({
    "all": "advisory",
    **{r.name: LEVELS[i % 3] for i, r in enumerate(rules()) if r.name != "min-replicas"},
    "min-replicas": {"enforcementLevel": "mandatory", "minReplicas": 3},
    "checkov-builtins": "advisory", "CKV_K8S_8": "disabled", "not-checked-by-checkov": "advisory",
})


def finding(**kw) -> Finding:
    return Finding(**{"rule": "no-sticky-service", "engine": "rules", "level": "mandatory",
                      "resource": "Service/shop/a", "message": "m", **kw})


def test_levels_come_from_the_configuration_and_disabled_findings_go():
    config = PolicyConfig.parse(json.dumps({"no-sticky-service": "advisory", "no-host-path": "disabled",
                                            "checkov-builtins": "advisory", "CKV_K8S_43": "mandatory"}))
    given = [finding(), finding(rule="no-host-path"), finding(rule="CKV_K8S_8", engine="checkov", checkov_id="CKV_K8S_8"),
             finding(rule="CKV_K8S_43", engine="checkov", checkov_id="CKV_K8S_43"),
             finding(rule="no-sticky-service", engine="checkov", checkov_id="CKV_STL_1"),
             finding(rule="manifest-file", engine="scan"), finding(rule="their-policy", engine="crossguard"),
             finding(rule="not-checked-by-checkov", engine="checkov", level="mandatory")]
    got = [(f.rule, f.engine, f.level, f.blocking) for f in apply_levels(given, config)]
    assert got == [("no-sticky-service", "rules", "advisory", False),
                   ("CKV_K8S_8", "checkov", "advisory", False),
                   ("CKV_K8S_43", "checkov", "mandatory", True),
                   ("no-sticky-service", "checkov", "advisory", False),
                   ("manifest-file", "scan", "mandatory", True),       # not configurable
                   ("their-policy", "crossguard", "mandatory", True),  # a custom pack's: its own level
                   ("not-checked-by-checkov", "checkov", "mandatory", True)]


def test_remediate_blocks_like_mandatory():
    [f] = apply_levels([finding()], PolicyConfig.parse('{"no-sticky-service": "remediate"}'))
    assert f.level == "remediate" and f.blocking


def test_defaults_change_nothing():
    given = [finding(), finding(rule="stale-waiver", engine="waivers", level="advisory")]
    assert apply_levels(given, PolicyConfig()) == given


@pytest.fixture(scope="module")
def pack():
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=False) as running:
        yield running


def test_the_pack_and_the_gate_report_every_rule_at_the_same_levels_from_one_file(pack, tmp_path):
    path = tmp_path / "policy-config.json"
    path.write_text(CONFIG_TEXT)
    config = PolicyConfig.load(path)
    pack.client.configure(config.pack_overrides())
    changed_by_setting = []
    for fixture in FIXTURES:
        rule = fixture.rule
        resources = [resource_of(doc) for doc in fixture.documents]
        if rule.stack:
            diagnostics = pack.client.analyze_stack(resources)
        else:
            diagnostics = [d for r in resources for d in pack.client.analyze(r)]
        from_pack = sorted((d.policy_name, d.enforcement_level) for d in diagnostics if d.policy_name == rule.name)
        subjects = [Subject(doc, ResourceRef.of_manifest(doc)) for doc in fixture.documents]
        from_gate = sorted((f.rule, f.level) for f in apply_levels(rule_findings(subjects, "crossguard", config), config)
                           if f.rule == rule.name)
        assert from_pack == from_gate, fixture.id
        expected = config.level(rule.name)
        if fixture.must_fail:
            assert {level for _, level in from_gate} == (set() if expected == "disabled" else {expected}), fixture.id
        elif from_gate:
            changed_by_setting.append(fixture.rule.name)
    assert {config.level(r.name) for r in rules()} == set(LEVELS)  # every level was exercised
    assert "min-replicas" in changed_by_setting  # minReplicas 3 reached both engines
