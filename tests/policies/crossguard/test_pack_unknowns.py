"""Preview unknowns and secrets, sent with the engine's own encodings over the analyzer protocol."""
from __future__ import annotations

import copy
import re

import pytest
from pulumi_policy.proxy import UnknownValueError

from stateless_pack.gate.pack.engine import Secret, Unknown, launch_pack
from stateless_pack.policies.catalog import Rule, Violation
from stateless_pack.policies.crossguard.reporting import Reporter, report
from stateless_pack.policies.crossguard.run_waivers import ref_of as identity_of
from stateless_pack.policies.redaction import sensitive_values as _sensitive_values
from support.pack_harness import PACK_DIR, resource_of, who_and_path
from support.rule_fixtures import load_fixtures, resource_id

SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"selector": {"app": "web"}, "sessionAffinity": "None",
             "ports": [{"port": 80, "targetPort": 8080}]},
}


def service(**spec) -> dict:
    doc = copy.deepcopy(SERVICE)
    doc["spec"].update(spec)
    return doc


@pytest.fixture(scope="module")
def preview():
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=True) as pack:
        pack.client.configure()
        yield pack


@pytest.fixture(scope="module")
def update():
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=False) as pack:
        pack.client.configure()
        yield pack


def test_unknown_decisive_field_is_advisory_cannot_verify(preview):
    diags = preview.client.analyze(resource_of(service(sessionAffinity=Unknown("string"))))
    sticky = [d for d in diags if d.policy_name == "no-sticky-service"]
    assert len(sticky) == 1, diags
    d = sticky[0]
    assert d.enforcement_level == "advisory"
    assert "cannot be verified during preview" in d.message and "pulumi up" in d.message
    assert who_and_path(d) == ("Service", "web", "spec.sessionAffinity")
    assert d.urn.endswith("::kubernetes:core/v1:Service::shop-Service-web")


@pytest.mark.parametrize("unknown", ["object", "string"])
def test_whole_spec_unknown_is_advisory_not_a_crash(preview, unknown):
    doc = service()
    doc["spec"] = Unknown(unknown)
    diags = preview.client.analyze(resource_of(doc))
    sticky = [d for d in diags if d.policy_name == "no-sticky-service"]
    assert [d.enforcement_level for d in sticky] == ["advisory"]
    assert "cannot be verified during preview" in sticky[0].message
    assert {d.enforcement_level for d in diags} == {"advisory"}  # no rule blocks on an unknown spec


@pytest.mark.parametrize("where", ["label", "port", "selector", "name"])
def test_unknown_irrelevant_field_reports_nothing(preview, where):
    doc = service()
    if where == "label":
        doc["metadata"]["labels"]["version"] = Unknown()
    elif where == "port":
        doc["spec"]["ports"][0]["targetPort"] = Unknown("number")
    elif where == "selector":
        doc["spec"]["selector"] = Unknown("object")
    else:
        doc["metadata"]["name"] = Unknown()
    assert preview.client.analyze(resource_of(doc)) == []


def test_known_violation_next_to_unknown_stays_mandatory(preview):
    diags = preview.client.analyze(resource_of(service(sessionAffinity="ClientIP",
                                                       ports=[{"port": Unknown("number")}])))
    assert [(d.policy_name, d.enforcement_level) for d in diags] == [("no-sticky-service", "mandatory")]


def test_unknown_at_update_is_not_waved_through(update):
    """Outside a preview nothing is checked later: an unverifiable field keeps the policy's level."""
    diags = update.client.analyze(resource_of(service(sessionAffinity=Unknown())))
    assert [(d.policy_name, d.enforcement_level) for d in diags] == [("no-sticky-service", "mandatory")]
    assert who_and_path(diags[0]) == ("Service", "web", "spec.sessionAffinity")


def test_secret_values_are_read_as_their_plain_value(preview):
    sticky = preview.client.analyze(resource_of(service(sessionAffinity=Secret("ClientIP"))))
    assert [(d.policy_name, d.enforcement_level) for d in sticky] == [("no-sticky-service", "mandatory")]
    assert preview.client.analyze(resource_of(service(sessionAffinity=Secret("None")))) == []


def test_secret_wrapping_every_leaf_changes_no_decision_and_hides_every_value(preview):
    def wrap(value):
        if isinstance(value, dict):
            return {k: wrap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [wrap(v) for v in value]
        return Secret(value)

    doc = service(sessionAffinity="ClientIP")
    plain = preview.client.analyze(resource_of(doc))
    resource = resource_of(doc)
    resource.properties = wrap(doc)
    wrapped = preview.client.analyze(resource)
    assert plain and [(d.policy_name, d.enforcement_level, d.urn) for d in wrapped] == [
        (d.policy_name, d.enforcement_level, d.urn) for d in plain]
    again = preview.client.analyze(resource)  # the pack's conversions now come from its cache
    assert [d.message for d in again] == [d.message for d in wrapped]
    # the engine marked every value secret: the message (after the policy's own description) shows none
    said = [d.message[len(d.description):] for d in wrapped + again]
    assert "Service/shop/web: sessionAffinity is ClientIP" in plain[0].message
    assert all("ClientIP" not in text and "shop" not in text and "<redacted>" in text for text in said)


# ---- redaction: exercised in-process with a rule that echoes every value it sees ------------------

def _echo_everything(manifest, _cfg):
    yield Violation("spec", f"saw {manifest!r}")


ECHO = Rule(name="echo", checkov_id="CKV_STL_999", category="sessions", description="echo",
            remediation="none", kinds=frozenset({"Deployment", "Secret"}), check=_echo_everything)


def _messages(manifest) -> list[str]:
    sent = []
    reporter = Reporter(lambda message, urn=None: sent.append(message))
    for v in ECHO.run(manifest):
        report(ECHO, v, identity_of(manifest), reporter, _sensitive_values(manifest))
    reporter.finish()
    return sent


def test_credentials_never_reach_messages_even_if_a_rule_echoes_them():
    deployment = {
        "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
            {"name": "REDIS_PASSWORD", "value": "hunter2-secret"},
            {"name": "DATABASE_URL", "value": "postgres://app:pg-pass-123@db:5432/app"},
            {"name": "CACHE", "value": "redis://:r3dis-pass@redis:6379/0"},
            {"name": "API_TOKEN", "value": "tok-abcdef"},
            {"name": "LOG_LEVEL", "value": "debug-verbose"},
            {"name": "SECRET_REF", "valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}},
        ]}]}}},
    }
    [message] = _messages(deployment)
    for secret in ("hunter2-secret", "pg-pass-123", "r3dis-pass", "tok-abcdef"):
        assert secret not in message
    assert "<redacted>" in message
    # Not over-redacted: ordinary values and references to Secrets stay readable.
    assert "debug-verbose" in message and "'password'" in message and "'redis'" in message


def test_secret_object_data_never_reaches_messages():
    secret = {"kind": "Secret", "metadata": {"name": "redis", "namespace": "shop"},
              "stringData": {"anything": "plain-text-credential"}, "data": {"x": "YmFzZTY0LXZhbHVl"}}
    [message] = _messages(secret)
    assert "plain-text-credential" not in message and "YmFzZTY0LXZhbHVl" not in message


def test_unknown_violations_are_raised_once_as_the_sdk_advisory_channel():
    manifest = {"kind": "Deployment", "metadata": {"name": "api"}}
    reporter = Reporter(lambda *_: pytest.fail("an unknown must not be reported at the policy level"))
    who = identity_of(manifest)
    import os
    os.environ["PULUMI_DRY_RUN"] = "true"
    try:
        report(ECHO, Violation("spec.a", "a unknown", unknown=True), who, reporter)
        report(ECHO, Violation("spec.b", "b unknown", unknown=True), who, reporter)
        with pytest.raises(UnknownValueError) as raised:
            reporter.finish()
    finally:
        del os.environ["PULUMI_DRY_RUN"]
    assert "spec.a" in raised.value.message and "spec.b" in raised.value.message


# ---- every failing fixture: the decisive field made unknown is never silence -----------------------

_SEGMENT = re.compile(r"\[(\d+)\]|\[[\"']([^\"']+)[\"']\]|([^.\[\]]+)")


def _with_unknown_at(doc: dict, path: str) -> dict | None:
    """A copy of `doc` with the value at `path` replaced by an unknown (missing leaf: added as unknown).

    Dotted keys (annotation names) are matched greedily against the keys present; missing parent
    objects are created. None when the path needs a list element that does not exist.
    """
    doc = copy.deepcopy(doc)
    tokens = [int(i) if i else (q or k) for i, q, k in _SEGMENT.findall(path)]
    cur, i = doc, 0
    while i < len(tokens):
        if isinstance(cur, list) and isinstance(tokens[i], int) and tokens[i] < len(cur):
            key, i = tokens[i], i + 1
        elif isinstance(cur, dict):
            for j in range(len(tokens), i, -1):  # longest dotted key first
                key = ".".join(str(t) for t in tokens[i:j])
                if key in cur or j == i + 1:
                    i = j
                    break
        else:
            return None
        if i == len(tokens):
            cur[key] = Unknown()
            return doc
        if isinstance(cur, dict) and key not in cur:
            if isinstance(tokens[i], int):
                return None
            cur[key] = {}  # a missing parent object (e.g. no securityContext yet) is created
        cur = cur[key]
    return None


# One case per expected violation of every failing fixture (no known gaps: an unknown env value under
# any name is "cannot be verified", since any value may turn out to be a URL carrying a password).
CASES = [
    pytest.param(f, ref, path, id=f"{f.id}:{ref}:{path}")
    for f in load_fixtures() if f.must_fail for ref, path in sorted(f.expected)
]


@pytest.mark.parametrize("fixture, resource_ref, path", CASES)
def test_unknown_in_the_decisive_field_is_never_silence(preview, fixture, resource_ref, path):
    rule = fixture.rule
    index = next(i for i, d in enumerate(fixture.documents) if resource_id(d) == resource_ref)
    changed = _with_unknown_at(fixture.documents[index], path)
    assert changed is not None, f"cannot place an unknown at {path} in {resource_ref}"
    docs = [changed if i == index else d for i, d in enumerate(fixture.documents)]
    # Type tokens come from the original documents: a program's resource type is always known.
    resources = [resource_of(d, name=f"r{i}") for i, d in enumerate(fixture.documents)]
    for resource, doc in zip(resources, docs):
        resource.properties = doc
    if rule.stack:
        diags = preview.client.analyze_stack(resources)
    else:
        diags = preview.client.analyze(resources[index])
    mine = [d for d in diags if d.policy_name == rule.name
            and "/".join(who_and_path(d)[:2]) == resource_ref]
    assert mine, f"{rule.name}: unknown {path} on {resource_ref} was silently accepted"
    for d in mine:
        if d.enforcement_level == "advisory" and rule.level != "advisory":
            assert "cannot be verified during preview" in d.message
