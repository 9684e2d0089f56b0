"""policies/policy_config.py: Pulumi's `--policy-pack-config` format, read and validated for every engine."""
from __future__ import annotations

import json

import pytest

from stateless_pack.policies.catalog import rules
from stateless_pack.policies.policy_config import (
    PRESETS, PolicyConfig, PolicyConfigError, check_properties, pack_policy_levels,
)
from stateless_pack.policies.waivers.wording import POLICY_NAMES


def parse(data) -> PolicyConfig:
    return PolicyConfig.parse(json.dumps(data), source="cfg.json")


def test_defaults_are_each_policys_own_level_and_checkov_mandatory():
    config = PolicyConfig()
    assert {r.name: config.level(r.name) for r in rules()} == {r.name: r.level for r in rules()}
    assert config.level("stale-waiver") == "advisory" and config.level("waiver-registry") == "mandatory"
    assert config.level("not-checked-by-checkov") == "mandatory"
    assert config.checkov_level("CKV_K8S_8") == "mandatory"
    assert config.settings("min-replicas") == {} and config.pack_overrides() == {}


def test_a_level_string_and_an_object_with_properties():
    config = parse({"no-sticky-edge": "advisory",
                    "min-replicas": {"enforcementLevel": "disabled", "minReplicas": 3},
                    "approved-bucket-storage-class": {"approvedStorageClasses": ["gold"]}})
    assert config.level("no-sticky-edge") == "advisory"
    assert (config.level("min-replicas"), config.settings("min-replicas")) == ("disabled", {"minReplicas": 3})
    assert config.level("approved-bucket-storage-class") == "mandatory"  # properties only: its own level
    assert config.rule_settings() == {"min-replicas": {"minReplicas": 3},
                                      "approved-bucket-storage-class": {"approvedStorageClasses": ["gold"]}}


def test_all_sets_every_level_and_named_entries_win():
    config = parse({"all": "advisory", "no-host-path": "mandatory"})
    assert config.level("no-host-path") == "mandatory"
    assert {config.level(n) for n in pack_policy_levels() if n != "no-host-path"} == {"advisory"}
    assert config.level("not-checked-by-checkov") == "advisory"
    assert config.checkov_level("CKV_K8S_8") == "advisory"


def test_checkov_precedence_id_then_group_then_all():
    config = parse({"all": "disabled", "checkov-builtins": "advisory", "CKV_K8S_43": "mandatory"})
    assert config.checkov_level("CKV_K8S_43") == "mandatory"
    assert config.checkov_level("CKV_K8S_8") == "advisory"
    assert config.level("no-sticky-service") == "disabled"
    assert parse({"all": "advisory"}).checkov_level("CKV2_K8S_6") == "advisory"


def test_our_checkov_ids_follow_their_rule_not_the_builtin_group():
    config = parse({"checkov-builtins": "disabled", "no-sticky-service": "advisory"})
    assert config.checkov_level("CKV_STL_1") == "advisory"
    assert config.checkov_level("CKV_STL_4") == "mandatory"


def test_the_pack_gets_only_its_own_policies_and_all_as_written():
    written = {"all": "advisory", "min-replicas": {"minReplicas": 3}, "stale-waiver": "mandatory",
               "CKV_K8S_8": "disabled", "checkov-builtins": "advisory", "not-checked-by-checkov": "advisory"}
    assert parse(written).pack_overrides() == {"all": "advisory", "min-replicas": {"minReplicas": 3},
                                               "stale-waiver": "mandatory"}


@pytest.mark.parametrize("text, complaint", [
    ("{", "not valid JSON"),
    ('{"no-host-path": "advisory", "no-host-path": "mandatory"}', "'no-host-path' given twice"),
    ("[]", "must be a JSON object"),
    ('{"no-such-policy": "advisory"}', "no policy named 'no-such-policy'"),
    ('{"CKV_STL_1": "advisory"}', "set our rule by its policy name, 'no-sticky-service'"),
    ('{"CKV_STL_99": "advisory"}', "no rule of ours has this Checkov id"),
    ('{"CKV_K8S_99999": "advisory"}', "has no Kubernetes check CKV_K8S_99999"),
    ('{"CKV2_STL_1": "advisory"}', "has no Kubernetes check CKV2_STL_1"),
    ('{"no-host-path": "warn"}', "enforcement level 'warn' is not one of"),
    ('{"no-host-path": {"enforcementLevel": "Mandatory"}}', "'Mandatory' is not one of"),
    ('{"no-host-path": 3}', "must be an enforcement level"),
    ('{"no-host-path": {"enforcementLevel": "advisory", "depth": 2}}', "unknown config property depth"),
    ('{"min-replicas": {"minReplicas": 0}}', "minReplicas: 0 is less than the minimum of 1"),
    ('{"min-replicas": {"minReplicas": "3"}}', "'3' is not of type 'integer'"),
    ('{"read-only-root-filesystem": {"maxEmptyDirSize": "ten gigs"}}', "'ten gigs' does not match"),
    ('{"read-only-root-filesystem": {"maxEmptyDirSize": "-1Gi"}}', "'-1Gi' does not match"),
    ('{"all": {"enforcementLevel": "advisory", "minReplicas": 3}}', "all: has no properties"),
    ('{"CKV_K8S_8": {"enforcementLevel": "advisory", "x": 1}}', "CKV_K8S_8: has no properties"),
])
def test_every_mistake_is_a_clear_error(text, complaint):
    with pytest.raises(PolicyConfigError, match="^cfg.json: ") as error:
        PolicyConfig.parse(text, source="cfg.json")
    assert complaint in str(error.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(PolicyConfigError) as error:
        parse({"nope": "advisory", "no-host-path": "warn"})
    assert "nope" in str(error.value) and "warn" in str(error.value)


def test_load_reports_a_missing_file(tmp_path):
    with pytest.raises(PolicyConfigError, match="no such file"):
        PolicyConfig.load(tmp_path / "missing.json")
    (tmp_path / "ok.json").write_text('{"no-host-path": "advisory"}')
    assert PolicyConfig.load(tmp_path / "ok.json").level("no-host-path") == "advisory"


def test_presets_ship_valid_and_mean_what_they_say():
    assert set(PRESETS) == {"everything-blocking", "statelessness-only"}
    blocking = PolicyConfig.preset("everything-blocking")
    assert {blocking.level(n) for n in pack_policy_levels()} == {"mandatory"}
    assert blocking.checkov_level("CKV_K8S_8") == "mandatory" and blocking.level("stale-waiver") == "mandatory"
    ours = PolicyConfig.preset("statelessness-only")
    assert {ours.level(r.name) for r in rules()} == {"mandatory"}
    assert all(ours.level(n) == PolicyConfig().level(n) for n in POLICY_NAMES)
    assert ours.checkov_level("CKV_K8S_8") == "advisory" and ours.checkov_level("CKV_STL_1") == "mandatory"
    assert ours.level("not-checked-by-checkov") == "advisory"
    with pytest.raises(PolicyConfigError, match="no preset"):
        PolicyConfig.preset("lenient")


def test_check_properties_against_a_schema():
    schema = {"n": {"type": "integer", "minimum": 1}}
    assert check_properties("p", schema, {"n": 2}) == []
    assert check_properties("p", schema, {"n": 0}) == ["p: invalid config: n: 0 is less than the minimum of 1"]
    assert check_properties("p", schema, {}, required=("n",)) == ["p: invalid config: (root): 'n' is a required property"]
