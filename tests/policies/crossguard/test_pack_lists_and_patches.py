"""`<Kind>List` and `<Kind>Patch` resources through the pack over the analyzer protocol, and the
manifests the adapter makes of them (the gate renders the same ones: crossguard/manifests.py)."""
from __future__ import annotations

import pytest

from stateless_pack.gate.pack.engine import Resource, Secret, Unknown, launch_pack
from stateless_pack.policies.crossguard.manifests import manifests_from
from support.pack_harness import PACK_DIR, who_and_path

IMAGE = "registry.example.org/shop/web@sha256:" + "a" * 64


@pytest.fixture(scope="module")
def pack():
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=False) as running:
        running.client.configure()
        yield running


def policies(diags) -> list:
    return sorted((d.policy_name, *who_and_path(d)) for d in diags)


# ---- the manifests -------------------------------------------------------------------------------

def test_a_list_gives_one_manifest_per_item_with_the_lists_kind():
    found = manifests_from("kubernetes:core/v1:ServiceList", {"items": [
        {"metadata": {"name": "a"}, "spec": {"sessionAffinity": "ClientIP"}},
        {"apiVersion": "v1", "kind": "Service", "spec": {}}]}, "svcs")
    assert not found.partial
    assert [(m["apiVersion"], m["kind"], m["metadata"]["name"]) for m in found] == [
        ("v1", "Service", "a"), ("v1", "Service", "svcs-1")]


def test_a_patch_gives_one_partial_manifest_of_the_patched_kind():
    found = manifests_from("kubernetes:apps/v1:DeploymentPatch", {"metadata": {"name": "web"}}, "p")
    assert found.partial and [(m["apiVersion"], m["kind"]) for m in found] == [("apps/v1", "Deployment")]
    custom = manifests_from("kubernetes:apiextensions.k8s.io:CustomResourcePatch",
                            {"apiVersion": "x.io/v1", "kind": "Route", "metadata": {"name": "r"}}, "p")
    assert custom.partial and [m["kind"] for m in custom] == ["Route"]


@pytest.mark.parametrize("type_", ["kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigGroup",
                                   "pulumi:providers:kubernetes", "aws:s3/bucket:Bucket"])
def test_wrappers_and_other_packages_give_no_manifest(type_):
    assert list(manifests_from(type_, {"metadata": {"name": "x"}}, "x")) == []


# ---- the pack ------------------------------------------------------------------------------------

def test_a_sticky_service_inside_a_service_list_is_reported(pack):
    lst = Resource(type="kubernetes:core/v1:ServiceList", name="svcs", properties={"items": [
        {"metadata": {"name": "fine", "namespace": "shop"}, "spec": {"ports": [{"port": 80}]}},
        {"metadata": {"name": "sticky", "namespace": "shop"},
         "spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}]})
    diags = pack.client.analyze(lst)
    assert policies(diags) == [("no-sticky-service", "Service", "sticky", "spec.sessionAffinity")]
    assert diags[0].urn == pack.client.urn_of(lst) and diags[0].enforcement_level == "mandatory"


def test_a_patch_is_judged_by_the_rules_that_look_for_what_is_present(pack):
    sticky = Resource(type="kubernetes:core/v1:ServicePatch", name="p1", properties={
        "metadata": {"name": "web", "namespace": "shop"}, "spec": {"sessionAffinity": "ClientIP"}})
    assert policies(pack.client.analyze(sticky)) == [
        ("no-sticky-service", "Service", "web", "spec.sessionAffinity")]
    host_path = Resource(type="kubernetes:apps/v1:DeploymentPatch", name="p2", properties={
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"volumes": [{"name": "h", "hostPath": {"path": "/var"}}]}}}})
    assert policies(pack.client.analyze(host_path)) == [
        ("no-host-path", "Deployment", "web", "spec.template.spec.volumes[0].hostPath")]


def test_a_patch_is_not_blamed_for_what_it_leaves_out(pack):
    """A patch that only sets an image names no probe, no securityContext, no replicas: no rule that
    requires something present may judge it (at the pack or in a stack rule)."""
    patch = Resource(type="kubernetes:apps/v1:DeploymentPatch", name="p3", properties={
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": IMAGE, "ports": [{"containerPort": 8080}]}]}}}})
    assert pack.client.analyze(patch) == []
    assert [d for d in pack.client.analyze_stack([patch]) if d.policy_name in ("min-replicas", "pdb-coverage")] == []


def test_the_same_deployment_whole_is_blamed(pack):
    """The near miss of the test above: as a whole Deployment the same object does violate."""
    whole = Resource(type="kubernetes:apps/v1:Deployment", name="d", properties={
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": IMAGE, "ports": [{"containerPort": 8080}]}]}}}})
    assert {"readiness-probe", "read-only-root-filesystem"} <= {d.policy_name for d in pack.client.analyze(whole)}
    assert "min-replicas" in {d.policy_name for d in pack.client.analyze_stack([whole])}


def test_list_items_take_part_in_stack_rules(pack):
    lst = Resource(type="kubernetes:apps/v1:DeploymentList", name="deps", properties={"items": [
        {"metadata": {"name": "one", "namespace": "shop"}, "spec": {"replicas": 1}}]})
    mine = [d for d in pack.client.analyze_stack([lst]) if d.policy_name == "min-replicas"]
    assert [who_and_path(d) for d in mine] == [("Deployment", "one", "spec.replicas")]


def test_a_secret_value_quoted_by_a_rule_is_redacted_in_the_packs_message(pack):
    """The engine marks the value secret; the pack redacts it even where no credential name says so,
    and even when it is only two characters long."""
    ingress = Resource(type="kubernetes:networking.k8s.io/v1:Ingress", name="ing", properties={
        "metadata": {"name": "ing", "namespace": "shop", "annotations": {
            "nginx.ingress.kubernetes.io/upstream-hash-by": Secret("q7"),
            "haproxy.org/cookie-persistence": Secret("it's\n\"sticky\"")}},
        "spec": {"rules": [{"host": "shop.example.org"}]}})
    diags = [d for d in pack.client.analyze(ingress) if d.policy_name == "no-sticky-edge"]
    assert len(diags) == 2 and all("<redacted>" in d.message for d in diags)
    for form in ("q7", "it's", "\\n", "sticky\""):
        assert all(form not in d.message for d in diags)


def test_an_unknown_list_item_cannot_pass_a_preview():
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=True) as preview:
        preview.client.configure()
        lst = Resource(type="kubernetes:core/v1:ServiceList", name="svcs",
                       properties={"items": [Unknown("object")]})
        sticky = [d for d in preview.client.analyze(lst) if d.policy_name == "no-sticky-service"]
    assert [d.enforcement_level for d in sticky] == ["advisory"]
    assert "cannot be verified during preview" in sticky[0].message
