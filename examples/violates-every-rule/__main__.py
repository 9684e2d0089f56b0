"""Breaks every stateless-pack rule exactly once, each in a resource named after it.

Everything else is kept compliant (a shared hardened pod template), so that each finding shows up
exactly where `expected_findings.yaml` says and nowhere else.
"""
import copy

import pulumi
import pulumi_kubernetes as k8s

ns = pulumi.Config().get("namespace") or "legacy"
IMAGE = "registry.example.org/shop/web@sha256:" + "a" * 64


def meta(name, **extra):
    return {"name": name, "namespace": ns, "labels": {"app": name}, **extra}


def container(name="app", **overrides):
    """A container that satisfies every rule (and the usual Checkov built-ins)."""
    base = {
        "name": name,
        "image": IMAGE,
        "image_pull_policy": "Always",
        "ports": [{"container_port": 8080, "name": "http"}],
        "readiness_probe": {"http_get": {"path": "/ready", "port": 8080}},
        "liveness_probe": {"http_get": {"path": "/live", "port": 8080}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
        "security_context": {"read_only_root_filesystem": True, "run_as_non_root": True,
                             "run_as_user": 10001, "allow_privilege_escalation": False,
                             "capabilities": {"drop": ["ALL"]},
                             "seccomp_profile": {"type": "RuntimeDefault"}},
        "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
    }
    base.update(overrides)
    return base


def pod_spec(containers=None, volumes=None):
    return {
        "automount_service_account_token": False,
        "security_context": {"run_as_non_root": True, "seccomp_profile": {"type": "RuntimeDefault"}},
        "containers": containers or [container()],
        "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "64Mi"}}, *(volumes or [])],
    }


def deployment(name, replicas=2, spec=None, with_pdb=True):
    k8s.apps.v1.Deployment(name, metadata=meta(name), spec={
        "replicas": replicas,
        "selector": {"match_labels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": spec or pod_spec()},
    })
    if with_pdb:
        k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta(f"{name}-pdb"), spec={
            "min_available": 1, "selector": {"match_labels": {"app": name}}})


def service(name, **spec):
    k8s.core.v1.Service(name, metadata=meta(name), spec={
        "selector": {"app": name}, "ports": [{"port": 80, "target_port": 8080}], **spec})


# sessions
service("sticky-service", session_affinity="ClientIP")                                # no-sticky-service
k8s.networking.v1.Ingress("sticky-edge", metadata=meta(                               # no-sticky-edge
    "sticky-edge", annotations={"nginx.ingress.kubernetes.io/affinity": "cookie"}), spec={
    "ingress_class_name": "nginx",
    "rules": [{"host": "shop.example.org", "http": {"paths": [{
        "path": "/", "path_type": "Prefix",
        "backend": {"service": {"name": "sticky-service", "port": {"number": 80}}}}]}}]})
deployment("local-session-store", spec=pod_spec([container(env=[                     # no-local-session-store
    {"name": "SESSION_DRIVER", "value": "file"}])]))
k8s.core.v1.ConfigMap("local-session-config", metadata=meta("local-session-config"), data={
    "SESSION_DRIVER": "file"})
deployment("local-session-config", spec=pod_spec([container(env_from=[                # no-local-session-config
    {"config_map_ref": {"name": "local-session-config"}}])]))

# storage
deployment("host-path", spec=pod_spec(volumes=[                                       # no-host-path
    {"name": "data", "host_path": {"path": "/var/lib/shop"}}]))
deployment("network-volume", spec=pod_spec(volumes=[                                 # allowed-volume-types
    {"name": "shared", "nfs": {"server": "nfs.example.org", "path": "/exports/shop"}}]))
k8s.core.v1.PersistentVolumeClaim("uploads", metadata=meta("uploads"), spec={        # no-persistent-volume-claims
    "access_modes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})
k8s.apps.v1.StatefulSet("stateful-workload", metadata=meta("stateful-workload"), spec={  # no-stateful-workloads
    "service_name": "stateful-workload", "replicas": 2,
    "selector": {"match_labels": {"app": "stateful-workload"}},
    "template": {"metadata": {"labels": {"app": "stateful-workload"}}, "spec": pod_spec()}})
k8s.policy.v1.PodDisruptionBudget("stateful-workload-pdb", metadata=meta("stateful-workload-pdb"), spec={
    "min_available": 1, "selector": {"match_labels": {"app": "stateful-workload"}}})
writable = container()
writable["security_context"] = {**writable["security_context"], "read_only_root_filesystem": False}
deployment("writable-root", spec=pod_spec([writable]))                                # read-only-root-filesystem
k8s.apiextensions.CustomResource("unapproved-bucket",                                 # approved-bucket-storage-class
    api_version="objectbucket.io/v1alpha1", kind="ObjectBucketClaim",
    metadata=meta("unapproved-bucket"),
    spec={"generateBucketName": "unapproved", "storageClassName": "local-minio"})

# resilience
deployment("single-replica", replicas=1, with_pdb=False)                              # min-replicas
deployment("no-disruption-budget", with_pdb=False)                                    # pdb-coverage
k8s.core.v1.Pod("bare-pod", metadata=meta("bare-pod"), spec=pod_spec())               # no-bare-pods
no_probe = container()
del no_probe["readiness_probe"]
deployment("no-readiness-probe", spec=pod_spec([no_probe]))                           # readiness-probe

# data-store hygiene
redis = container(name="redis", image="redis:7.4.2", ports=[{"container_port": 6379, "name": "redis"}],
                  readiness_probe={"tcp_socket": {"port": 6379}},
                  liveness_probe={"tcp_socket": {"port": 6379}},
                  args=["--protected-mode", "no"])
deployment("open-redis", spec=pod_spec([redis]))                                     # redis-auth
k8s.core.v1.Service("exposed-redis", metadata=meta("exposed-redis"), spec={           # redis-not-exposed
    "type": "LoadBalancer", "selector": {"app": "redis"},
    "ports": [{"port": 6379, "target_port": 6379, "name": "redis"}]})
deployment("literal-credentials", spec=pod_spec([container(env=[                      # no-literal-credentials
    {"name": "DB_PASSWORD", "value": "hunter2-not-a-real-password"}])]))
