"""Application under Pulumi's mocks: the stateless defaults, the wiring, waived exceptions, errors."""
from __future__ import annotations

import json

import pulumi
import pytest

from stateless_pack.components import (Application, ApplicationArgs, Autoscaling, ComponentArgumentError, IngressArgs,
                        ObjectBucket, ObjectBucketArgs, PersistentVolume, RedisSessionStore,
                        RedisSessionStoreArgs)
from support.mocks import resolve, run

IMAGE = "registry.example.org/shop/web:1.4.2"
REDIS_IMAGE = "registry.example.org/mirror/redis:7.4.2@sha256:" + "a" * 64
PASSWORD = "unit-test-password-0123456789"
COMPONENT = "stateless-pack:components:Application"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"


def app(**overrides):
    return Application("web", ApplicationArgs(**{"namespace": "shop", "image": IMAGE, **overrides}))


def with_store_and_bucket(replicated=False, **overrides):
    waiver = {} if replicated else {"single_instance_waiver": "W-0001"}
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(
        namespace="shop", image=REDIS_IMAGE, password=pulumi.Output.secret(PASSWORD), **waiver))
    bucket = ObjectBucket("uploads", ObjectBucketArgs(namespace="shop"))
    return app(session_store=store, buckets=[bucket], **overrides)


def _app_resources(r):
    component = r.one(COMPONENT).urn
    return {x.type.rsplit(":", 1)[1]: x.manifest for x in r.resources if x.parent == component}


def _container(r):
    return r.one(DEPLOYMENT, "web").manifest["spec"]["template"]["spec"]["containers"][0]


def test_default_resources_are_children_of_the_component():
    r = run(app)
    assert sorted(_app_resources(r)) == ["Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service"]
    assert all(m["metadata"]["namespace"] == "shop" for m in _app_resources(r).values())


def test_deployment_defaults():
    spec = run(app).one(DEPLOYMENT).manifest["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert "affinity" not in pod
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]


def test_container_defaults():
    c = _container(run(app))
    assert c["image"] == IMAGE and c["imagePullPolicy"] == "Always"
    assert c["ports"] == [{"containerPort": 8080, "name": "http"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert set(c["resources"]) == {"requests", "limits"}
    assert set(c["resources"]["limits"]) == {"cpu", "memory"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_service_has_no_affinity_and_pdb_selects_the_pods():
    r = run(app)
    res = _app_resources(r)
    assert res["Service"]["spec"]["sessionAffinity"] == "None"
    assert res["Service"]["spec"]["type"] == "ClusterIP"
    assert "annotations" not in res["Service"]["metadata"]
    selector = res["Deployment"]["spec"]["selector"]["matchLabels"]
    assert res["PodDisruptionBudget"]["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
    assert res["NetworkPolicy"]["spec"]["podSelector"] == {"matchLabels": selector}
    assert res["NetworkPolicy"]["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    assert "annotations" not in res["Deployment"]["metadata"]  # compliant: no waiver marker at all


def test_outputs():
    r = run(app)
    assert resolve(r.result.deployment_name) == ("web", False)
    assert resolve(r.result.service_host) == ("web.shop.svc.cluster.local", False)


def test_session_store_and_bucket_are_wired_by_reference_as_files():
    r = run(with_store_and_bucket)
    c = _container(r)
    env = {e["name"]: e for e in c["env"]}
    assert env["REDIS_HOST"]["valueFrom"] == {"configMapKeyRef": {"name": "sessions-connection", "key": "REDIS_HOST"}}
    assert env["REDIS_PORT"]["valueFrom"] == {"configMapKeyRef": {"name": "sessions-connection", "key": "REDIS_PORT"}}
    assert env["REDIS_PASSWORD_FILE"]["value"] == "/var/run/secrets/stateless-pack/session-store/password"
    assert env["UPLOADS_S3_KEYS_DIR"]["value"] == "/var/run/secrets/stateless-pack/buckets/uploads"
    assert c["envFrom"] == [{"prefix": "UPLOADS_", "configMapRef": {"name": "uploads"}}]
    pod = r.one(DEPLOYMENT, "web").manifest["spec"]["template"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["session-store"]["secret"]["secretName"] == "sessions-auth"
    assert volumes["session-store"]["secret"]["items"] == [{"key": "password", "path": "password"}]
    assert volumes["bucket-uploads"]["secret"]["secretName"] == "uploads"
    assert all(m.get("readOnly") for m in c["volumeMounts"] if m["name"] != "tmp")
    # the store's NetworkPolicy admits pods with this label
    assert pod["metadata"]["labels"]["stateless-pack.io/session-store-client"] == "sessions"
    assert PASSWORD not in json.dumps(r.one(DEPLOYMENT, "web").inputs)


def test_a_replicated_store_is_reached_through_its_sentinels():
    r = run(lambda: with_store_and_bucket(replicated=True))
    env = {e["name"]: e for e in _container(r)["env"]}
    for key in ("REDIS_SENTINELS", "REDIS_MASTER_NAME"):
        assert env[key]["valueFrom"] == {"configMapKeyRef": {"name": "sessions-connection", "key": key}}
    # no direct address: a client that is not Sentinel-aware must fail, not write to a replica
    assert "REDIS_HOST" not in env and "REDIS_PORT" not in env
    assert env["REDIS_PASSWORD_FILE"]["value"] == "/var/run/secrets/stateless-pack/session-store/password"


def test_secrets_as_env_use_secret_references_never_values():
    r = run(lambda: with_store_and_bucket(secrets_as="env"))
    c = _container(r)
    env = {e["name"]: e for e in c["env"]}
    assert env["REDIS_PASSWORD"] == {"name": "REDIS_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": "sessions-auth", "key": "password"}}}
    assert {"prefix": "UPLOADS_", "secretRef": {"name": "uploads"}} in c["envFrom"]
    assert not any("value" in e and "PASSWORD" in e["name"] for e in c["env"])
    assert PASSWORD not in json.dumps(r.one(DEPLOYMENT, "web").inputs)


def test_autoscaling_owns_the_replica_count():
    r = run(lambda: app(autoscaling=Autoscaling(max_replicas=6, min_replicas=3)))
    assert "replicas" not in r.one(DEPLOYMENT).manifest["spec"]
    hpa = r.one(HPA).manifest["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 6)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def test_ingress_without_affinity_annotations():
    r = run(lambda: app(ingress=IngressArgs(host="shop.example.org", tls_secret_name="shop-tls")))
    ingress = r.one(INGRESS).manifest
    assert "annotations" not in ingress["metadata"]
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example.org"], "secretName": "shop-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "web", "port": {"name": "http"}}


def test_sticky_sessions_with_a_waiver_are_marked():
    r = run(lambda: app(sticky_sessions=True, sticky_sessions_waiver="W-0002",
                        ingress=IngressArgs(host="shop.example.org")))
    service = r.one(SERVICE).manifest
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["metadata"]["annotations"] == {"stateless-pack.io/waivers": "W-0002",
                                                  "checkov.io/skip1": "CKV_STL_1=W-0002"}
    ingress = r.one(INGRESS).manifest["metadata"]["annotations"]
    assert ingress["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert ingress["stateless-pack.io/waivers"] == "W-0002"
    assert ingress["checkov.io/skip1"] == "CKV_STL_2=W-0002"


def test_persistent_volume_with_a_waiver_is_marked():
    r = run(lambda: app(persistent_volume=PersistentVolume(waiver_id="W-0003", mount_path="/srv/uploads")))
    pvc = r.one(PVC).manifest
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["metadata"]["annotations"] == {"stateless-pack.io/waivers": "W-0003",
                                              "checkov.io/skip1": "CKV_STL_5=W-0003"}
    deployment = r.one(DEPLOYMENT).manifest
    assert deployment["metadata"]["annotations"] == pvc["metadata"]["annotations"]
    assert {"name": "data", "mountPath": "/srv/uploads"} in _container(r)["volumeMounts"]


def test_single_replica_with_a_waiver_is_marked():
    r = run(lambda: app(replicas=1, single_replica_waiver="W-0004"))
    deployment = r.one(DEPLOYMENT).manifest
    assert deployment["spec"]["replicas"] == 1
    assert deployment["metadata"]["annotations"] == {"stateless-pack.io/waivers": "W-0004",
                                                     "checkov.io/skip1": "CKV_STL_9=W-0004"}


def test_provider_and_parent_pass_through_opts():
    import pulumi_kubernetes as k8s

    def program():
        provider = k8s.Provider("cluster")
        Application("web", ApplicationArgs(namespace="shop", image=IMAGE),
                    opts=pulumi.ResourceOptions(providers=[provider]))
    r = run(program)
    kube = [x for x in r.resources if x.type.startswith("kubernetes:") and x.custom
            and not x.type.startswith("pulumi:providers")]
    assert len(kube) == 4 and all("pulumi:providers:kubernetes::cluster" in x.provider for x in kube)


@pytest.mark.parametrize("overrides,message", [
    ({"image": "registry.example.org/shop/web"}, "not pinned"),
    ({"image": "registry.example.org/shop/web:latest"}, "'latest'"),
    ({"image": "web@sha256:abc"}, "malformed digest"),
    ({"namespace": "shop_1"}, "DNS-1123"),
    ({"port": 0}, "port 0 must be an integer from 1 to 65535"),
    ({"service_port": 70000}, "service_port"),
    ({"replicas": 1}, "replicas 1 is below 2"),
    ({"replicas": 0, "single_replica_waiver": "W-0004"}, "replicas 0 must be an integer >= 1"),
    ({"autoscaling": Autoscaling(max_replicas=3, min_replicas=1)}, "autoscaling.min_replicas 1 is below 2"),
    ({"autoscaling": Autoscaling(max_replicas=1)}, "autoscaling.max_replicas"),
    ({"env": {"DB_PASSWORD": "hunter2"}}, "looks like a credential"),
    ({"env": {"API_TOKEN": "x"}}, "looks like a credential"),
    ({"env": {"1X": "y"}}, "must match"),
    ({"secrets_as": "both"}, "secrets_as"),
    ({"sticky_sessions": True}, "Head of DevOps"),
    ({"sticky_sessions_waiver": "W-0002"}, "sticky_sessions is False"),
    ({"sticky_sessions": True, "sticky_sessions_waiver": "yes"}, "not a waiver id"),
    ({"persistent_volume": PersistentVolume(waiver_id="", mount_path="/data")}, "needs `waiver_id`"),
    ({"persistent_volume": PersistentVolume(waiver_id="W-0003", mount_path="/tmp")}, "mount_path"),
    ({"readiness_path": "ready"}, "readiness_path"),
    ({"tmp_size_limit": "lots"}, "tmp_size_limit"),
    ({"ingress": IngressArgs(host="Shop Example")}, "ingress.host"),
])
def test_bad_arguments_are_rejected(overrides, message):
    with pytest.raises(ComponentArgumentError, match=message):
        run(lambda: app(**overrides))


def test_store_in_another_namespace_is_rejected():
    def program():
        store = RedisSessionStore("sessions", RedisSessionStoreArgs(
            namespace="other", image=REDIS_IMAGE, password=pulumi.Output.secret(PASSWORD),
            single_instance_waiver="W-0001"))
        app(session_store=store)
    with pytest.raises(ComponentArgumentError, match="in namespace 'other'"):
        run(program)


def test_buckets_with_the_same_env_prefix_are_rejected():
    def program():
        a = ObjectBucket("a", ObjectBucketArgs(namespace="shop", env_prefix="FILES_"))
        b = ObjectBucket("b", ObjectBucketArgs(namespace="shop", env_prefix="FILES_"))
        app(buckets=[a, b])
    with pytest.raises(ComponentArgumentError, match="share the env prefix"):
        run(program)


def test_the_connections_wire_in_what_the_components_wire_in():
    """`session_store=store.connection` and `buckets=[bucket.connection]` (what other languages pass
    through the provider) build the same Deployment as the components themselves."""
    def program(as_connections: bool):
        store = RedisSessionStore("sessions", RedisSessionStoreArgs(
            namespace="shop", image=REDIS_IMAGE, password=pulumi.Output.secret(PASSWORD)))
        bucket = ObjectBucket("uploads", ObjectBucketArgs(namespace="shop"))
        if as_connections:
            return app(session_store=store.connection, buckets=[bucket.connection])
        return app(session_store=store, buckets=[bucket])
    given_components = run(lambda: program(False)).one(DEPLOYMENT, "web").manifest
    given_connections = run(lambda: program(True)).one(DEPLOYMENT, "web").manifest
    assert given_connections == given_components
    env = {e["name"] for e in given_connections["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"REDIS_SENTINELS", "REDIS_MASTER_NAME", "UPLOADS_S3_KEYS_DIR"} <= env


@pytest.mark.parametrize("overrides,message", [
    ({"session_store": {"name": "sessions", "namespace": "shop"}}, "session_store must be a RedisSessionStore or its"),
    ({"session_store": "sessions"}, "session_store must be a RedisSessionStore or its"),
    ({"buckets": [{"name": "uploads"}]}, "buckets must be an ObjectBucket or its"),
])
def test_something_that_is_neither_a_component_nor_its_connection_is_rejected(overrides, message):
    with pytest.raises(ComponentArgumentError, match=message):
        run(lambda: app(**overrides))
