"""Waivers in the CrossGuard pack, driven over the analyzer gRPC protocol like the Pulumi engine.

The pack judges expiry by the wall clock of its run (there is deliberately no clock override a
pipeline could set), so these registries are written with dates relative to today. The pack runs
from a folder whose approvers.yaml lists keys generated for the test, and every head-of-devops
waiver is signed with one (the pack requires it; `test_signed_waivers.py` tests the refusals).
"""
from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from stateless_pack.gate.pack.engine import Unknown, launch_pack
from support.pack_harness import resource_of
from support.signing import HOD, LEAD, approval

TODAY = date.today()

SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "session-store", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"selector": {"app": "web"}, "sessionAffinity": "ClientIP",
             "ports": [{"port": 80, "targetPort": 8080}]},
}


def service(name="session-store", namespace="shop", affinity="ClientIP", annotations=None):
    doc = copy.deepcopy(SERVICE)
    doc["metadata"].update(name=name, namespace=namespace)
    doc["spec"]["sessionAffinity"] = affinity
    if annotations is not None:
        doc["metadata"]["annotations"] = annotations
    return doc


def waiver(wid, rules, scope, *, by=HOD, role="head-of-devops", created=-10, expires=30):
    scope_yaml = ", ".join(f'{k}: "{v}"' for k, v in scope.items())
    return f"""  - id: {wid}
    rules: [{", ".join(rules)}]
    scope: {{{scope_yaml}}}
    reason: test
    approved_by: {by}
    approver_role: {role}
    reference: OPS-{wid[2:]}
    created: {TODAY + timedelta(days=created)}
    expires: {TODAY + timedelta(days=expires)}
"""


REGISTRY = "version: 1\nwaivers:\n" + "".join([
    waiver("W-0001", ["no-sticky-service"], {"stack": "dev", "kind": "Service", "namespace": "shop",
                                             "name": "session-*"}),
    waiver("W-0002", ["CKV_K8S_21"], {"kind": "Service", "name": "ghost"}, by=LEAD, role="platform-lead"),
    waiver("W-0003", ["CKV_STL_1"], {"kind": "Service", "name": "old-checkout"}, created=-40, expires=-1),
    waiver("W-0004", ["no-sticky-service"], {"stack": "prod", "name": "checkout"}),
    waiver("W-0005", ["CKV_K8S_21"], {"stack": "dev", "namespace": "shop", "name": "annotated"},
           by=LEAD, role="platform-lead"),
])


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return approval(tmp_path_factory.mktemp("keys"))


def start(tmp_path_factory, keys, text, *, dry_run=True, via_config=False, sign=True):
    path = tmp_path_factory.mktemp("registry") / "waivers.yaml"
    path.write_text(keys.sign_head_of_devops(text) if sign else text)
    where = ({"config": {"stateless-pack:waivers": str(path)}} if via_config
             else {"env": {"STATELESS_PACK_WAIVERS": str(path)}})
    pack = launch_pack(keys.pack_dir, project="shop", stack="dev", dry_run=dry_run, **where)
    pack.client.configure()
    return pack


@pytest.fixture(scope="module")
def pack(tmp_path_factory, keys):
    with start(tmp_path_factory, keys, REGISTRY) as running:
        yield running


@pytest.fixture(scope="module")
def update(tmp_path_factory, keys):
    with start(tmp_path_factory, keys, REGISTRY, dry_run=False, via_config=True) as running:
        yield running


@pytest.fixture(scope="module")
def broken(tmp_path_factory, keys):
    text = keys.sign_head_of_devops(REGISTRY).replace(f"approved_by: {HOD}", f"approved_by: {LEAD}", 1)
    with start(tmp_path_factory, keys, text, sign=False) as running:  # W-0001 by a lead
        yield running


def of(diags, policy):
    return [d for d in diags if d.policy_name == policy]


def body(d) -> str:
    """The violation text: the SDK puts the policy description on the first line."""
    return d.message.split("\n", 1)[-1]


# ---- a valid waiver downgrades, and says so -----------------------------------------------------

@pytest.mark.parametrize("fixture", ["pack", "update"])
def test_covered_violation_is_advisory_and_names_the_waiver_and_expiry(request, fixture):
    running = request.getfixturevalue(fixture)
    [d] = of(running.client.analyze(resource_of(service())), "no-sticky-service")
    assert d.enforcement_level == "advisory"
    assert "Service/shop/session-store: sessionAffinity is ClientIP" in d.message
    assert f"waived by W-0001 until {TODAY + timedelta(days=30)}" in d.message
    assert "approved by jane.doe@example.org (head-of-devops)" in d.message


@pytest.mark.parametrize("doc", [service(namespace="payments"), service(name="checkout"),
                                 service(name="old-checkout")],
                         ids=["other-namespace", "other-name", "expired-waiver"])
def test_violation_outside_every_valid_waiver_stays_mandatory(pack, doc):
    [d] = of(pack.client.analyze(resource_of(doc)), "no-sticky-service")
    assert d.enforcement_level == "mandatory" and "waived" not in d.message


def test_waiver_scoped_to_another_stack_does_not_apply(tmp_path_factory, keys):
    text = "version: 1\nwaivers:\n" + waiver("W-0001", ["no-sticky-service"], {"stack": "prod",
                                                                              "name": "session-store"})
    with start(tmp_path_factory, keys, text) as running:
        [d] = of(running.client.analyze(resource_of(service())), "no-sticky-service")
        assert d.enforcement_level == "mandatory"


# ---- an invalid registry: reported once, and nothing is waived ---------------------------------

def test_invalid_registry_is_one_mandatory_stack_violation_listing_the_problems(broken):
    diags = broken.client.analyze_stack([resource_of(service())])
    [d] = of(diags, "waiver-registry")
    assert d.enforcement_level == "mandatory"
    assert "no waiver applies" in d.message
    assert "waivers[0] W-0001: approved_by: max.mustermann@example.org does not hold role " \
           "'head-of-devops'" in d.message
    assert of(diags, "stale-waiver") == [] and of(diags, "expired-waiver") == []


def test_invalid_registry_fails_closed(broken):
    [d] = of(broken.client.analyze(resource_of(service())), "no-sticky-service")
    assert d.enforcement_level == "mandatory" and "waived" not in d.message
    backed_elsewhere = service(name="annotated", affinity="None",
                               annotations={"checkov.io/skip1": "CKV_K8S_21=W-0005"})
    [u] = of(broken.client.analyze(resource_of(backed_elsewhere)), "unbacked-suppression")
    assert u.enforcement_level == "mandatory" and "registry is invalid" in u.message


def test_valid_registry_has_no_registry_violation(pack):
    assert of(pack.client.analyze_stack([resource_of(service())]), "waiver-registry") == []


# ---- expired waivers ---------------------------------------------------------------------------

def test_expired_waiver_is_a_mandatory_stack_violation(pack):
    [d] = of(pack.client.analyze_stack([resource_of(service())]), "expired-waiver")
    assert d.enforcement_level == "mandatory"
    assert f"waiver W-0003 (CKV_STL_1; kind=Service, name=old-checkout) expired on " \
           f"{TODAY - timedelta(days=1)}" in d.message


# ---- unbacked suppressions ---------------------------------------------------------------------

@pytest.mark.parametrize("annotations,why", [
    ({"checkov.io/skip1": "CKV_K8S_21=legacy, ask Bob"}, "names no registered waiver"),
    ({"stateless-pack.io/waivers": "W-0404"}, "W-0404 is not in the registry"),
    ({"checkov.io/skip1": "CKV_K8S_21=W-0001"}, "W-0001 does not waive CKV_K8S_21"),
    ({"checkov.io/skip1": "CKV_K8S_21=W-0005"}, "W-0005 does not cover Service/shop/other"),
    ({"stateless-pack.io/waivers": "W-0003"}, "W-0003 expired on"),
], ids=["skip-without-waiver", "marker-unknown-id", "waiver-of-other-rule", "waiver-of-other-resource",
        "expired"])
def test_unbacked_suppression_is_a_mandatory_resource_violation(pack, annotations, why):
    doc = service(name="other", affinity="None", annotations=annotations)
    [d] = of(pack.client.analyze(resource_of(doc)), "unbacked-suppression")
    assert d.enforcement_level == "mandatory"
    assert why in d.message and body(d).startswith("Service/shop/other: unbacked suppression")
    assert d.urn.endswith("::kubernetes:core/v1:Service::shop-Service-other")


def test_backed_suppressions_are_fine(pack):
    doc = service(name="annotated", affinity="None",
                  annotations={"checkov.io/skip1": "CKV_K8S_21=W-0005", "stateless-pack.io/waivers": "W-0005"})
    assert pack.client.analyze(resource_of(doc)) == []
    sticky = service(annotations={"checkov.io/skip1": "CKV_STL_1=W-0001", "stateless-pack.io/waivers": "W-0001"})
    assert of(pack.client.analyze(resource_of(sticky)), "unbacked-suppression") == []


def test_suppression_unknown_during_preview_is_advisory(pack):
    doc = service(name="other", affinity="None", annotations={"checkov.io/skip1": Unknown("string")})
    [d] = of(pack.client.analyze(resource_of(doc)), "unbacked-suppression")
    assert d.enforcement_level == "advisory" and "cannot be verified during preview" in d.message


def test_suppression_unknown_at_update_blocks(update):
    doc = service(name="other", affinity="None", annotations={"checkov.io/skip1": Unknown("string")})
    [d] = of(update.client.analyze(resource_of(doc)), "unbacked-suppression")
    assert d.enforcement_level == "mandatory"


# ---- stale waivers -----------------------------------------------------------------------------

def test_stale_waivers_are_advisory_and_exclude_used_expired_and_other_stacks(pack):
    stack = [resource_of(service()),                                   # uses W-0001
             resource_of(service(name="annotated", affinity="None",   # backs W-0005 by annotation
                                 annotations={"checkov.io/skip1": "CKV_K8S_21=W-0005"}))]
    diags = of(pack.client.analyze_stack(stack), "stale-waiver")
    # W-0002 matches nothing; W-0003 is expired (reported as such); W-0004 is prod's
    assert [(d.enforcement_level, body(d).split(" (", 1)[0]) for d in diags] == [
        ("advisory", "waiver W-0002")]
    assert "covers nothing in stack dev" in diags[0].message


def test_a_waiver_becomes_stale_when_its_violation_is_fixed(tmp_path_factory, keys):
    text = "version: 1\nwaivers:\n" + waiver("W-0001", ["no-sticky-service"], {"name": "session-store"})
    with start(tmp_path_factory, keys, text) as running:
        fixed = [resource_of(service(affinity="None"))]
        assert [body(d).split(" (", 1)[0] for d in of(running.client.analyze_stack(fixed),
                                                          "stale-waiver")] == ["waiver W-0001"]
        still_sticky = [resource_of(service())]
        assert of(running.client.analyze_stack(still_sticky), "stale-waiver") == []


def test_stale_waivers_judge_with_the_settings_configured_for_each_rule(tmp_path_factory, keys):
    # The waiver covers an inline CSI volume; the configuration allows that driver, so nothing is
    # waived and the waiver is stale (rerun with the rule's defaults, the driver would be refused).
    text = "version: 1\nwaivers:\n" + waiver("W-0009", ["allowed-volume-types"], {"name": "cache"},
                                             by=LEAD, role="platform-lead")
    cache = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cache", "namespace": "shop"},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "cache"}},
                      "template": {"metadata": {"labels": {"app": "cache"}}, "spec": {
                          "containers": [{"name": "c", "image": "cache:1"}],
                          "volumes": [{"name": "scratch", "csi": {"driver": "scratch.example.com"}}]}}}}
    with start(tmp_path_factory, keys, text) as running:
        assert of(running.client.analyze_stack([resource_of(cache)]), "stale-waiver") == []
    with start(tmp_path_factory, keys, text) as running:
        running.client.configure({"allowed-volume-types": {
            "allowedCsiDrivers": ["secrets-store.csi.k8s.io", "scratch.example.com"]}})
        assert [body(d).split(" (", 1)[0] for d in of(running.client.analyze_stack([resource_of(cache)]),
                                                      "stale-waiver")] == ["waiver W-0009"]
