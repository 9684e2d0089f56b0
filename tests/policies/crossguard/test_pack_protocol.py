"""The policy pack, launched like the Python language host and driven over the analyzer gRPC
protocol in the engine's order, against every rule fixture (tests/fixtures/rules)."""
from __future__ import annotations

import textwrap
from importlib import metadata

import pytest

from stateless_pack.gate.pack.engine import (
    AnalyzerInfo,
    ConfigError,
    PackError,
    PolicyInfo,
    Resource,
    launch_pack,
    reconcile_config,
)
from stateless_pack.policies import catalog
from stateless_pack.policies.waivers.wording import POLICY_NAMES
from support.pack_harness import PACK_DIR, resource_of, who_and_path
from support.rule_fixtures import fixture_id, load_fixtures

FIXTURES = load_fixtures()
RULES = catalog.rules()
WAIVER_POLICIES = list(POLICY_NAMES)


@pytest.fixture(scope="module")
def pack():
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=True) as running:
        yield running


@pytest.fixture
def client(pack):
    pack.client.configure()  # every test starts from the reconciled defaults
    return pack.client


def reported(client, fixture) -> list:
    """Diagnostics of the fixture's rule, sending its documents as the engine would."""
    rule = fixture.rule
    if rule.stack:
        component = "urn:pulumi:dev::shop::stateless:app:Application::app"
        resources = [resource_of(doc) for doc in fixture.documents]
        for i, r in enumerate(resources):
            r.parent = component
            r.dependencies = [client.urn_of(x) for x in resources[:i]]
        diags = client.analyze_stack(resources)
    else:
        diags = [d for doc in fixture.documents for d in client.analyze(resource_of(doc))]
    return [d for d in diags if d.policy_name == rule.name]


# ---- GetAnalyzerInfo ---------------------------------------------------------------------------

def test_analyzer_info_lists_every_rule_with_its_metadata(client):
    info = client.get_analyzer_info()
    assert info.name == "stateless-pack" and info.supports_config
    assert info.version == metadata.version("stateless-pack")  # PulumiPolicy.yaml's, as in the engine
    # The catalog's rules, in catalog order, then the pack's own waiver policies.
    assert [p.name for p in info.policies] == [r.name for r in RULES] + WAIVER_POLICIES
    for rule in RULES:
        p = info.policy(rule.name)
        assert p.description == rule.description
        assert p.remediation_steps == rule.remediation
        assert p.enforcement_level == rule.level
        assert p.policy_type == ("stack" if rule.stack else "resource")
        assert p.config_schema == {k: dict(v) for k, v in rule.config_schema.items()}
        assert rule.category in p.tags and rule.checkov_id in p.tags
        assert p.severity in {"low", "medium", "high", "critical"}


def test_configure_sends_an_explicit_level_and_the_defaults_for_every_policy(client):
    sent = client.configure()
    assert set(sent) == {r.name for r in RULES} | set(WAIVER_POLICIES)
    assert all(entry["enforcementLevel"] in ("advisory", "mandatory") for entry in sent.values())
    for rule in RULES:
        assert sent[rule.name] == {"enforcementLevel": rule.level, **rule.defaults()}


# ---- every rule fixture ------------------------------------------------------------------------

def test_every_rule_has_fixtures_for_the_protocol():
    covered = {f.rule.name for f in FIXTURES}
    assert covered == {r.name for r in RULES}
    for rule in RULES:
        mine = [f for f in FIXTURES if f.rule is rule]
        assert any(f.must_fail for f in mine) and any(not f.must_fail for f in mine)
        assert any(f.is_near_miss for f in mine), rule.name


@pytest.mark.parametrize("fixture", FIXTURES, ids=fixture_id)
def test_fixture_diagnostics_match_expectations_exactly(client, fixture):
    diags = reported(client, fixture)
    found = {(f"{kind}/{name}", path) for kind, name, path in map(who_and_path, diags)}
    assert found == set(fixture.expected)
    assert len(diags) == len(found), "one diagnostic per violation"
    for d in diags:
        assert fixture.rule.remediation in d.message
        assert d.enforcement_level == fixture.rule.level
        assert d.urn.startswith("urn:pulumi:dev::shop::kubernetes:")


# ---- configuration -----------------------------------------------------------------------------

FAILING = [f for f in FIXTURES if f.must_fail]


@pytest.mark.parametrize("fixture", FAILING, ids=fixture_id)
@pytest.mark.parametrize("level", ["advisory", "disabled"])
def test_enforcement_level_override_is_honoured(client, fixture, level):
    client.configure({fixture.rule.name: level})
    diags = reported(client, fixture)
    if level == "disabled":
        assert diags == []
    else:
        assert diags and {d.enforcement_level for d in diags} == {"advisory"}


def test_all_override_sets_every_level(client):
    sent = client.configure({"all": "advisory"})
    assert {c["enforcementLevel"] for c in sent.values()} == {"advisory"}


def test_min_replicas_configured_to_three_changes_the_outcome(client):
    rule = next((r for r in RULES if "minReplicas" in r.config_schema), None)
    assert rule is not None, "the catalog must have a replicas rule configurable through minReplicas"
    two = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "api", "namespace": "shop"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                    "template": {"metadata": {"labels": {"app": "api"}},
                                 "spec": {"containers": [{"name": "api", "image": "api:1"}]}}}}
    def mine():
        diags = client.analyze_stack([resource_of(two)]) if rule.stack else client.analyze(resource_of(two))
        return [d for d in diags if d.policy_name == rule.name]

    assert mine() == []                       # default threshold 2: two replicas are enough
    client.configure({rule.name: {"minReplicas": 3}})
    [diag] = mine()
    assert who_and_path(diag)[:2] == ("Deployment", "api") and diag.enforcement_level == rule.level


def test_bad_config_values_are_rejected_before_configure(client):
    assert any(rule.config_schema for rule in RULES), "no configurable rule to try"
    for rule in RULES:
        if rule.config_schema:
            key, schema = next(iter(rule.config_schema.items()))
            wrong = "not-a-number" if schema.get("type") in ("integer", "number", "array") else 12
            with pytest.raises(ConfigError, match=rule.name):
                client.configure({rule.name: {key: wrong}})


# ---- reconciliation rules (in-process; no catalog dependency) ----------------------------------

INFO = AnalyzerInfo(
    name="p", version="1", supports_config=True, initial_config={"b": {"enforcementLevel": "advisory", "n": 4}},
    policies=(
        PolicyInfo("a", "A", "mandatory", "resource", {"n": {"type": "integer", "minimum": 1, "default": 2}},
                   (), "", "", ()),
        PolicyInfo("b", "B", "mandatory", "stack", {"n": {"type": "integer", "default": 1},
                                                    "names": {"type": "array", "items": {"type": "string"}}},
                   (), "", "", ()),
        PolicyInfo("c", "C", "advisory", "resource", {}, (), "", "", ()),
    ))


def test_reconcile_defaults_then_initial_config_then_overrides():
    assert reconcile_config(INFO) == {
        "a": {"enforcementLevel": "mandatory", "n": 2},
        "b": {"enforcementLevel": "advisory", "n": 4},
        "c": {"enforcementLevel": "advisory"},
    }
    got = reconcile_config(INFO, {"all": "mandatory", "a": {"n": 5}, "c": "disabled"})
    assert got == {"a": {"enforcementLevel": "mandatory", "n": 5},
                   "b": {"enforcementLevel": "mandatory", "n": 4},
                   "c": {"enforcementLevel": "disabled"}}


@pytest.mark.parametrize("overrides, complaint", [
    ({"nope": "advisory"}, "no policy named 'nope'"),
    ({"a": "blocking"}, "enforcementLevel 'blocking'"),
    ({"a": {"n": 0}}, "a: invalid config: n: 0 is less than the minimum of 1"),
    ({"a": {"n": "3"}}, "a: invalid config: n: '3' is not of type 'integer'"),
    ({"b": {"names": ["ok", 3]}}, "b: invalid config: names.1"),
    ({"a": {"m": 1}}, "unknown config property m"),
    ({"a": 7}, "must be an enforcement level or an object"),
    ({"all": {"n": 1}}, "only an enforcement level"),
])
def test_reconcile_rejects_bad_overrides_clearly(overrides, complaint):
    with pytest.raises(ConfigError) as raised:
        reconcile_config(INFO, overrides)
    assert complaint in str(raised.value)


# ---- launching -----------------------------------------------------------------------------------

def test_many_resources_concurrently_match_one_by_one(client):
    docs = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}", "namespace": "shop"},
             "spec": {"sessionAffinity": "ClientIP" if i % 3 == 0 else "None"}} for i in range(60)]
    resources = [resource_of(d) for d in docs]
    together = client.analyze_many(resources)
    assert together == [client.analyze(r) for r in resources]
    assert [bool(ds) for ds in together] == [i % 3 == 0 for i in range(60)]


def test_non_kubernetes_resources_are_not_judged(client):
    bucket = Resource("aws:s3/bucket:Bucket", "b", {"kind": "Service", "spec": {"sessionAffinity": "ClientIP"}})
    helm = Resource("kubernetes:helm.sh/v3:Release", "r", {"kind": "Service", "spec": {"sessionAffinity": "ClientIP"}})
    assert client.analyze(bucket) == [] and client.analyze(helm) == []


def _tiny_pack(tmp_path, body: str):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 9.9.9\n")
    (tmp_path / "__main__.py").write_text(textwrap.dedent(body))
    return tmp_path


def test_launch_sets_the_language_host_environment(tmp_path):
    pack_dir = _tiny_pack(tmp_path, """
        import os, sys, pulumi
        from pulumi_policy import PolicyPack, ResourceValidationPolicy
        def echo(args, report):
            report(f"cwd={os.getcwd()} argv={sys.argv[1:]} stack={pulumi.get_stack()} "
                   f"project={pulumi.get_project()} dry_run={os.environ['PULUMI_DRY_RUN']} "
                   f"cfg={pulumi.Config('app').get('size')}")
        PolicyPack(name="tiny", policies=[ResourceValidationPolicy(name="echo", description="d", validate=echo)])
    """)
    with launch_pack(pack_dir, project="proj", stack="prod", dry_run=False, config={"app:size": "7"}) as p:
        p.client.configure()
        [d] = p.client.analyze(Resource("kubernetes:core/v1:Service", "s", {}))
    assert f"cwd={pack_dir}" in d.message and f"'{p.engine_address}', '.'" in d.message
    assert "stack=prod project=proj dry_run=false cfg=7" in d.message


def test_pack_that_crashes_on_start_reports_its_stderr(tmp_path):
    pack_dir = _tiny_pack(tmp_path, "raise RuntimeError('catalog is broken: rule x')\n")
    with pytest.raises(PackError, match="catalog is broken: rule x"):
        launch_pack(pack_dir, timeout=60)


def test_folder_without_pulumipolicy_yaml_is_refused(tmp_path):
    with pytest.raises(PackError, match="no PulumiPolicy.yaml"):
        launch_pack(tmp_path)


def test_unreadable_pulumipolicy_yaml_is_refused_before_anything_starts(tmp_path, monkeypatch):
    (tmp_path / "PulumiPolicy.yaml").write_text("description: a: b\n")  # not YAML
    started = []
    monkeypatch.setattr("subprocess.Popen", lambda *a, **k: started.append(a))
    with pytest.raises(PackError, match="PulumiPolicy.yaml is unreadable"):
        launch_pack(tmp_path)
    assert started == []  # no pack process left behind
