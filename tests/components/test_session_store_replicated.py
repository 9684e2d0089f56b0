"""RedisSessionStore's replicated mode (the default) under Pulumi's mocks: what it builds, and that
every rule of the catalog passes on it without a waiver.

The configs and scripts it ships run for real in test_sentinel_config.py, test_redis_bootstrap.py
and tests/e2e/test_stateless_app.py.
"""
from __future__ import annotations

import json

import pulumi
import pytest

from stateless_pack.components import (ComponentArgumentError, HighAvailability, RedisSessionStore,
                                      RedisSessionStoreArgs)
from stateless_pack.components.redis_bootstrap import BOOTSTRAP_ENV, scripts
from stateless_pack.policies.catalog import rules
from support.mocks import is_secret_value, resolve, run

PASSWORD = "unit-test-password-0123456789"
IMAGE = "registry.example.org/mirror/redis:7.4.2@sha256:" + "a" * 64
COMPONENT = "stateless-pack:components:RedisSessionStore"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def store(**overrides):
    args = {"namespace": "shop", "image": IMAGE, "password": pulumi.Output.secret(PASSWORD), **overrides}
    return RedisSessionStore("sessions", RedisSessionStoreArgs(**args))


def _pod(r, name):
    return r.one(DEPLOYMENT, name).manifest["spec"]["template"]["spec"]


def _kube(r):
    return [x.manifest for x in r.resources if x.custom and x.type.startswith("kubernetes:")]


def test_the_replicated_set_is_built_from_deployments_without_volumes():
    r = run(store)
    component = r.one(COMPONENT)
    assert sorted((x.type.split(":", 1)[1], x.name) for x in r.resources if x.parent == component.urn) == [
        ("apps/v1:Deployment", "sessions-redis"),
        ("apps/v1:Deployment", "sessions-sentinel"),
        ("core/v1:ConfigMap", "sessions-bootstrap"),
        ("core/v1:ConfigMap", "sessions-connection"),
        ("core/v1:Secret", "sessions-auth"),
        ("core/v1:Service", "sessions-redis-peers"),
        ("core/v1:Service", "sessions-sentinel"),
        ("core/v1:Service", "sessions-sentinel-peers"),
        ("networking.k8s.io/v1:NetworkPolicy", "sessions-redis"),
        ("networking.k8s.io/v1:NetworkPolicy", "sessions-sentinel"),
        ("policy/v1:PodDisruptionBudget", "sessions-redis"),
        ("policy/v1:PodDisruptionBudget", "sessions-sentinel"),
    ]
    for name, replicas, size in (("sessions-redis", 3, "64Mi"), ("sessions-sentinel", 3, "16Mi")):
        spec = r.one(DEPLOYMENT, name).manifest["spec"]
        assert spec["replicas"] == replicas
        assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
        volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        assert volumes["data"] == {"name": "data", "emptyDir": {"sizeLimit": size}}
        assert not any("persistentVolumeClaim" in v for v in volumes.values())


def test_every_rule_passes_without_a_waiver():
    manifests = _kube(run(store))
    found = []
    for rule in rules():
        if rule.stack:
            found += [(rule.name, manifests[i]["metadata"]["name"]) for i, _ in rule.run(manifests)]
        else:
            found += [(rule.name, m["metadata"]["name"]) for m in manifests for _ in rule.run(m)]
    assert found == []
    assert not any("stateless-pack.io/waivers" in (m["metadata"].get("annotations") or {}) for m in manifests)


def test_the_secret_holds_both_configs_with_auth_everywhere():
    r = run(store)
    secret = r.one("kubernetes:core/v1:Secret")
    assert is_secret_value(secret.inputs["stringData"])
    data = secret.manifest["stringData"]
    assert data["password"] == PASSWORD
    redis_conf = data["redis.conf"].splitlines()
    assert f'requirepass "{PASSWORD}"' in redis_conf and f'masterauth "{PASSWORD}"' in redis_conf
    assert 'rename-command CONFIG ""' not in redis_conf  # Sentinel needs it (see redis_config)
    sentinel_conf = data["sentinel.conf"].splitlines()
    assert "sentinel monitor sessions @MASTER_HOST@ @MASTER_PORT@ 2" in sentinel_conf
    assert f'requirepass "{PASSWORD}"' in sentinel_conf
    assert f'sentinel auth-pass sessions "{PASSWORD}"' in sentinel_conf
    assert f'sentinel sentinel-pass "{PASSWORD}"' in sentinel_conf
    for m in _kube(r):
        if m["kind"] != "Secret":
            assert PASSWORD not in json.dumps(m), f"{m['kind']}/{m['metadata']['name']} holds the password"


def test_pods_start_through_the_bootstrap_scripts_with_config_from_the_secret():
    r = run(store)
    assert r.one("kubernetes:core/v1:ConfigMap", "sessions-bootstrap").manifest["data"] == scripts()
    for name, script, conf in (("sessions-redis", "redis-start.sh", "redis.conf"),
                               ("sessions-sentinel", "sentinel-start.sh", "sentinel.conf")):
        pod = _pod(r, name)
        (c,) = pod["containers"]
        assert c["command"] == ["sh", f"/opt/stateless-pack/{script}", f"/etc/redis/{conf}"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["config"]["secret"]["items"] == [{"key": conf, "path": conf},
                                                        {"key": "password", "path": "password"}]
        assert volumes["scripts"]["configMap"]["name"] == "sessions-bootstrap"
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["image"] == IMAGE and pod["automountServiceAccountToken"] is False


def test_bootstrap_env_announces_the_pod_ip_and_names_the_headless_peer_services():
    r = run(store)
    services = {s.manifest["metadata"]["name"]: s.manifest["spec"] for s in r.of_type("kubernetes:core/v1:Service")}
    for name in ("sessions-redis", "sessions-sentinel"):
        env = {e["name"]: e for e in _pod(r, name)["containers"][0]["env"]}
        assert tuple(env) == BOOTSTRAP_ENV
        assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        assert env["MASTER_NAME"]["value"] == "sessions" and env["REDIS_REPLICAS"]["value"] == "3"
        for key, peers in (("REDIS_PEERS", "sessions-redis-peers"), ("SENTINEL_PEERS", "sessions-sentinel-peers")):
            assert env[key]["value"] == f"{peers}.shop.svc.cluster.local"
            # headless, and listing pods before they are ready: starting pods must find each other
            assert services[peers]["clusterIP"] == "None" and services[peers]["publishNotReadyAddresses"] is True
    selector = r.one(DEPLOYMENT, "sessions-sentinel").manifest["spec"]["selector"]["matchLabels"]
    assert services["sessions-sentinel"]["selector"] == selector
    assert services["sessions-sentinel"]["type"] == "ClusterIP"


def test_one_pod_of_each_kind_per_node_and_one_disruption_at_a_time():
    r = run(store)
    for name in ("sessions-redis", "sessions-sentinel"):
        deployment = r.one(DEPLOYMENT, name).manifest
        selector = deployment["spec"]["selector"]["matchLabels"]
        (term,) = _pod(r, name)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term == {"labelSelector": {"matchLabels": selector}, "topologyKey": "kubernetes.io/hostname"}
        pdb = r.one("kubernetes:policy/v1:PodDisruptionBudget", name).manifest["spec"]
        assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
    assert (r.one(DEPLOYMENT, "sessions-redis").manifest["spec"]["selector"]
            != r.one(DEPLOYMENT, "sessions-sentinel").manifest["spec"]["selector"])


def test_probes_tell_the_roles_apart_and_give_the_bootstrap_its_time():
    r = run(store)
    for name, ready in (("sessions-redis", "redis-ready.sh"), ("sessions-sentinel", "sentinel-ready.sh")):
        (c,) = _pod(r, name)["containers"]
        assert c["readinessProbe"]["exec"]["command"] == ["sh", f"/opt/stateless-pack/{ready}"]
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] > 120  # BOOTSTRAP_SECONDS
        assert "tcpSocket" in c["livenessProbe"]


def test_network_policies_admit_clients_and_the_set_only():
    r = run(store)
    policies = {p.name: p.manifest["spec"] for p in r.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    clients = {"podSelector": {"matchLabels": {"stateless-pack.io/session-store-client": "sessions"}}}
    redis = {"podSelector": {"matchLabels": r.one(DEPLOYMENT, "sessions-redis").manifest["spec"]["selector"][
        "matchLabels"]}}
    sentinels = {"podSelector": {"matchLabels": r.one(DEPLOYMENT, "sessions-sentinel").manifest["spec"][
        "selector"]["matchLabels"]}}
    for name, port, own in (("sessions-redis", 6379, redis), ("sessions-sentinel", 26379, sentinels)):
        policy = policies[name]
        assert policy["podSelector"] == own["podSelector"]
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        assert policy["ingress"] == [{"from": [clients, redis, sentinels], "ports": [{"protocol": "TCP", "port": port}]}]
        assert policy["egress"] == [
            {"to": [redis], "ports": [{"protocol": "TCP", "port": 6379}]},
            {"to": [sentinels], "ports": [{"protocol": "TCP", "port": 26379}]},
            {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]


def test_the_connection_names_the_sentinels_and_the_master():
    r = run(store)
    s = r.result
    assert r.one("kubernetes:core/v1:ConfigMap", "sessions-connection").manifest["data"] == {
        "REDIS_SENTINELS": "sessions-sentinel.shop.svc.cluster.local:26379", "REDIS_MASTER_NAME": "sessions"}
    assert s.connection_keys == ("REDIS_SENTINELS", "REDIS_MASTER_NAME")
    assert resolve(s.sentinels) == ("sessions-sentinel.shop.svc.cluster.local:26379", False)
    assert resolve(s.master_name) == ("sessions", False)
    assert resolve(s.host) == (None, False) and resolve(s.port) == (None, False)
    assert resolve(s.password_secret_name) == ("sessions-auth", False)


def test_sizes_follow_the_arguments():
    r = run(lambda: store(high_availability=HighAvailability(redis_replicas=5, sentinels=5, down_after_ms=8000)))
    assert r.one(DEPLOYMENT, "sessions-redis").manifest["spec"]["replicas"] == 5
    assert r.one(DEPLOYMENT, "sessions-sentinel").manifest["spec"]["replicas"] == 5
    conf = r.one("kubernetes:core/v1:Secret").manifest["stringData"]["sentinel.conf"].splitlines()
    assert "sentinel monitor sessions @MASTER_HOST@ @MASTER_PORT@ 3" in conf  # a majority of five
    assert "sentinel down-after-milliseconds sessions 8000" in conf
    env = {e["name"]: e.get("value") for e in _pod(r, "sessions-redis")["containers"][0]["env"]}
    assert env["REDIS_REPLICAS"] == "5"


@pytest.mark.parametrize("ha,message", [
    (HighAvailability(sentinels=4), "must be odd"),
    (HighAvailability(sentinels=1), "high_availability.sentinels"),
    (HighAvailability(redis_replicas=1), "high_availability.redis_replicas"),
    (HighAvailability(down_after_ms=10), "down_after_ms"),
    (HighAvailability(bootstrap_seconds=0), "bootstrap_seconds"),
])
def test_bad_high_availability_settings_are_rejected(ha, message):
    with pytest.raises(ComponentArgumentError, match=message):
        run(lambda: store(high_availability=ha))


def test_image_is_required_and_has_no_default():
    with pytest.raises(ComponentArgumentError, match="needs `image`"):
        run(lambda: RedisSessionStore("sessions", RedisSessionStoreArgs(
            namespace="shop", password=pulumi.Output.secret(PASSWORD))))
