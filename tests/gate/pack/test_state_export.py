"""gate/pack/state_export.py: the stack export `pulumi policy analyze --file` reads."""
from __future__ import annotations

import hashlib
import json

import pytest

from stateless_pack.gate.pack import state_export
from stateless_pack.gate.program.pulumi_wire import SECRET_SIG, SIG_KEY
from stateless_pack.gate.program.runner import run_program
from support.paths import FIXTURES as FIXTURE_ROOT

FIXTURES = FIXTURE_ROOT / "gate"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run = run_program(FIXTURES / "violations")
    path = tmp_path_factory.mktemp("state") / "state.json"
    path.write_text(state_export.text(run))
    return run, json.loads(path.read_text()), path.read_text()


def test_deployment_v3_shape(exported):
    run, doc, _ = exported
    assert doc["version"] == 3
    manifest = doc["deployment"]["manifest"]
    assert manifest["magic"] == hashlib.sha256(manifest["version"].encode()).hexdigest()
    resources = doc["deployment"]["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack" and resources[0]["custom"] is False
    assert {r.urn for r in run.resources} < {r["urn"] for r in resources}
    for r in resources:
        assert {"urn", "custom", "type"} <= set(r)
        assert r["urn"].startswith("urn:pulumi:dev::violations::") and r["urn"].count("::") == 3


def test_parents_and_providers_come_before_use(exported):
    _, doc, _ = exported
    seen = set()
    providers = {}
    for r in doc["deployment"]["resources"]:
        if r.get("parent"):
            assert r["parent"] in seen
        if r.get("provider"):
            urn, _, ident = r["provider"].rpartition("::")
            assert urn in seen and providers[urn] == ident
        seen.add(r["urn"])
        if r["type"].startswith("pulumi:providers:"):
            providers[r["urn"]] = r["id"]
    custom_k8s = [r for r in doc["deployment"]["resources"] if r["custom"] and r["type"].startswith("kubernetes:")]
    assert custom_k8s and all(r.get("provider") and r.get("id") for r in custom_k8s)
    component = next(r for r in doc["deployment"]["resources"] if r["type"] == "fixtures:index:Storefront")
    assert "provider" not in component and "id" not in component


def test_secrets_keep_their_marker_never_their_value(exported):
    _, doc, text = exported
    assert "s3cr3t-greeting-from-config" not in text and "plain-session-key-in-stringdata" not in text
    secret = next(r for r in doc["deployment"]["resources"] if r["type"] == "kubernetes:core/v1:Secret")
    assert secret["inputs"]["stringData"] == {SIG_KEY: SECRET_SIG, "plaintext": '"<redacted>"'}
    sticky = next(r for r in doc["deployment"]["resources"] if r["urn"].endswith("::sticky"))
    assert sticky["inputs"]["spec"]["sessionAffinity"] == "ClientIP" == sticky["outputs"]["spec"]["sessionAffinity"]
