"""RedisSessionStore under Pulumi's mocks: resources, hardening, secrets, markers, bad arguments.

The single-instance and external modes here; the replicated mode in test_session_store_replicated.py.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from stateless_pack.components import (ComponentArgumentError, ExternalRedis, RedisPersistence, RedisSessionStore,
                                      RedisSessionStoreArgs)
from support.mocks import is_secret_value, resolve, run

PASSWORD = "unit-test-password-0123456789"
IMAGE = "registry.example.org/mirror/redis:7.4.2@sha256:" + "a" * 64
COMPONENT = "stateless-pack:components:RedisSessionStore"


def store(name="sessions", **overrides):
    args = {"namespace": "shop", "image": IMAGE, "password": pulumi.Output.secret(PASSWORD),
            "single_instance_waiver": "W-0001", **overrides}
    return RedisSessionStore(name, RedisSessionStoreArgs(**args))


def test_in_cluster_resources_are_children_of_the_component():
    r = run(store)
    component = r.one(COMPONENT)
    children = [x for x in r.resources if x.parent == component.urn]
    assert sorted((x.type, x.name) for x in children) == [
        ("kubernetes:apps/v1:Deployment", "sessions"),
        ("kubernetes:core/v1:ConfigMap", "sessions-connection"),
        ("kubernetes:core/v1:Secret", "sessions-auth"),
        ("kubernetes:core/v1:Service", "sessions"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "sessions"),
    ]
    assert all(x.manifest["metadata"]["namespace"] == "shop" for x in children)


def test_password_and_config_are_secret():
    r = run(store)
    secret = r.one("kubernetes:core/v1:Secret").inputs["stringData"]
    assert is_secret_value(secret)  # the whole stringData travels as a Pulumi secret
    data = r.one("kubernetes:core/v1:Secret").manifest["stringData"]
    assert data["password"] == PASSWORD
    assert f'requirepass "{PASSWORD}"' in data["redis.conf"]


def test_a_plain_string_password_still_becomes_secret():
    r = run(lambda: store(password=PASSWORD))
    assert is_secret_value(r.one("kubernetes:core/v1:Secret").inputs["stringData"])


def test_redis_runs_the_generated_config_hardened():
    r = run(store)
    deployment = r.one("kubernetes:apps/v1:Deployment").manifest
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["redis-server", "/etc/redis/redis.conf"]
    assert container["image"] == IMAGE
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert config_volume["secret"]["secretName"] == "sessions-auth"
    assert config_volume["secret"]["items"] == [{"key": "redis.conf", "path": "redis.conf"}]
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}  # persistence off
    # the memory limit leaves Redis headroom above maxmemory (192mb)
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert "readinessProbe" in container and "livenessProbe" in container


def test_service_is_cluster_ip_only():
    service = run(store).one("kubernetes:core/v1:Service").manifest["spec"]
    assert service["type"] == "ClusterIP"
    assert service["sessionAffinity"] == "None"
    assert [p["port"] for p in service["ports"]] == [6379]


def test_network_policy_admits_only_labelled_clients():
    r = run(store)
    policy = r.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").manifest["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["egress"] == []
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"stateless-pack.io/session-store-client": "sessions"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert policy["podSelector"]["matchLabels"] == r.one("kubernetes:apps/v1:Deployment").manifest[
        "spec"]["selector"]["matchLabels"]


def test_single_instance_is_marked_with_its_waiver():
    annotations = run(store).one("kubernetes:apps/v1:Deployment").manifest["metadata"]["annotations"]
    assert annotations == {"stateless-pack.io/waivers": "W-0001", "checkov.io/skip1": "CKV_STL_9=W-0001"}


def test_outputs():
    r = run(store)
    s = r.result
    assert resolve(s.host) == ("sessions.shop.svc.cluster.local", False)
    assert resolve(s.port) == (6379, False)
    assert resolve(s.sentinels) == (None, False) and resolve(s.master_name) == (None, False)
    assert s.connection_keys == ("REDIS_HOST", "REDIS_PORT")
    assert resolve(s.password_secret_name) == ("sessions-auth", False)
    assert resolve(s.password_secret_key) == ("password", False)
    assert resolve(s.config_map_name) == ("sessions-connection", False)
    connection = r.one("kubernetes:core/v1:ConfigMap").manifest["data"]
    assert connection == {"REDIS_HOST": "sessions.shop.svc.cluster.local", "REDIS_PORT": "6379"}


def test_persistence_needs_a_waiver_and_marks_the_claim_and_the_deployment():
    r = run(lambda: store(persistence=RedisPersistence(waiver_id="W-0007", size="2Gi")))
    pvc = r.one("kubernetes:core/v1:PersistentVolumeClaim").manifest
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert pvc["metadata"]["annotations"] == {"stateless-pack.io/waivers": "W-0007",
                                              "checkov.io/skip1": "CKV_STL_5=W-0007"}
    deployment = r.one("kubernetes:apps/v1:Deployment").manifest
    assert deployment["metadata"]["annotations"]["stateless-pack.io/waivers"] == "W-0001,W-0007"
    assert set(deployment["metadata"]["annotations"].values()) >= {"CKV_STL_9=W-0001", "CKV_STL_5=W-0007"}
    data = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == "sessions-data"
    assert "appendonly yes" in r.one("kubernetes:core/v1:Secret").manifest["stringData"]["redis.conf"]


def test_external_mode_only_publishes_the_connection():
    r = run(lambda: RedisSessionStore("sessions", RedisSessionStoreArgs(
        namespace="shop", external=ExternalRedis(host="redis.data.example.org", port=6380,
                                                 password_secret_name="managed-redis", password_secret_key="auth"))))
    kinds = sorted(x.type for x in r.resources if x.custom)
    assert kinds == ["kubernetes:core/v1:ConfigMap"]
    assert r.one("kubernetes:core/v1:ConfigMap").manifest["data"] == {
        "REDIS_HOST": "redis.data.example.org", "REDIS_PORT": "6380"}
    assert resolve(r.result.password_secret_name) == ("managed-redis", False)
    assert resolve(r.result.password_secret_key) == ("auth", False)


def test_provider_is_passed_through_opts():
    def program():
        provider = k8s.Provider("cluster")
        RedisSessionStore("sessions", RedisSessionStoreArgs(
            namespace="shop", image=IMAGE, password=pulumi.Output.secret(PASSWORD),
            single_instance_waiver="W-0001"), opts=pulumi.ResourceOptions(providers=[provider]))
    r = run(program)
    kube = [x for x in r.resources if x.type.startswith("kubernetes:") and x.custom
            and not x.type.startswith("pulumi:providers")]
    assert kube and all("pulumi:providers:kubernetes::cluster" in x.provider for x in kube)


@pytest.mark.parametrize("overrides,message", [
    ({"password": None}, "needs `password`"),
    ({"password": "short"}, "at least 16 characters"),
    ({"single_instance_waiver": "please"}, "not a waiver id"),
    ({"image": None}, "needs `image`"),
    ({"image": "redis"}, "not pinned"),
    ({"image": "redis:latest"}, "'latest'"),
    ({"namespace": "Shop"}, "DNS-1123"),
    ({"namespace": "default"}, "'default' is not allowed"),
    ({"maxmemory_mb": 0}, "maxmemory_mb"),
    ({"persistence": RedisPersistence(waiver_id="")}, "persistence.waiver_id"),
    ({"external": ExternalRedis(host="r.example.org", password_secret_name="s")}, "external mode"),
    ({"single_instance_waiver": None, "persistence": RedisPersistence(waiver_id="W-0007")},
     "persistence is for the single-instance mode"),
])
def test_bad_arguments_are_rejected(overrides, message):
    with pytest.raises(ComponentArgumentError, match=message):
        run(lambda: store(**overrides))


def test_bad_name_is_rejected():
    with pytest.raises(ComponentArgumentError, match="session store name 'Sessions_1'"):
        run(lambda: store(name="Sessions_1"))


def test_bad_external_endpoint_is_rejected():
    with pytest.raises(ComponentArgumentError, match="external Redis port"):
        run(lambda: RedisSessionStore("sessions", RedisSessionStoreArgs(
            namespace="shop", external=ExternalRedis(host="r.example.org", password_secret_name="s", port=0))))


def test_an_output_password_is_checked_when_it_resolves():
    with pytest.raises(Exception, match="at least 16 characters"):
        run(lambda: store(password=pulumi.Output.secret("short")))
