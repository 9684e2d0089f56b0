"""Workload kinds Kubernetes does not define, as a Pulumi program registers them (the SDK's
CustomResource is `kubernetes:<apiVersion>:<kind>`), judged by the pack over the analyzer protocol:
their pod templates by the resource policies, their replicas by the stack policies."""
from __future__ import annotations

import pytest

from stateless_pack.gate.pack.engine import Resource, launch_pack
from stateless_pack.policies.crossguard.manifests import manifests_from
from support.pack_harness import PACK_DIR, who_and_path

HOST_PATH = [{"name": "data", "hostPath": {"path": "/srv/data"}}]


def _template(app: str, volumes=()) -> dict:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": app, "image": "shop/web:1.0"}], "volumes": list(volumes)}}


ROLLOUT = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": _template("web", HOST_PATH)}}
RAY = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "ray", "namespace": "shop"},
       "spec": {"headGroupSpec": {"template": _template("head")},
                "workerGroupSpecs": [{"groupName": "gpu", "replicas": 1, "template": _template("gpu", HOST_PATH)}]}}


@pytest.fixture(scope="module")
def pack():
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=False) as running:
        running.client.configure()
        yield running


def _registered(manifest: dict, name: str) -> Resource:
    """As `k8s.apiextensions.CustomResource(name, api_version=..., kind=..., ...)` registers it."""
    return Resource(type=f"kubernetes:{manifest['apiVersion']}:{manifest['kind']}", name=name, properties=manifest)


def test_the_sdks_custom_resource_token_gives_the_manifest_of_its_kind():
    [manifest] = manifests_from("kubernetes:argoproj.io/v1alpha1:Rollout", {"spec": ROLLOUT["spec"]}, "web")
    assert (manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"]) == (
        "argoproj.io/v1alpha1", "Rollout", "web")


def test_a_rollouts_pod_template_is_judged_by_the_resource_policies(pack):
    found = {(d.policy_name, *who_and_path(d)) for d in pack.client.analyze(_registered(ROLLOUT, "web"))}
    assert ("no-host-path", "Rollout", "web", "spec.template.spec.volumes[0].hostPath") in found


def test_every_pod_template_of_an_unknown_kind_is_judged(pack):
    found = {(d.policy_name, *who_and_path(d)) for d in pack.client.analyze(_registered(RAY, "ray"))}
    assert [f for f in found if f[0] == "no-host-path"] == [
        ("no-host-path", "RayCluster", "ray", "spec.workerGroupSpecs[0].template.spec.volumes[0].hostPath")]
    # read-only-root-filesystem: both pods' containers, each at its own template
    assert {f[3] for f in found if f[0] == "read-only-root-filesystem"} == {
        "spec.headGroupSpec.template.spec.containers[0].securityContext.readOnlyRootFilesystem",
        "spec.workerGroupSpecs[0].template.spec.containers[0].securityContext.readOnlyRootFilesystem"}


def test_a_single_replica_rollout_is_judged_by_the_stack_policies(pack):
    found = {(d.policy_name, *who_and_path(d)) for d in pack.client.analyze_stack([_registered(ROLLOUT, "web")])}
    assert ("min-replicas", "Rollout", "web", "spec.replicas") in found
