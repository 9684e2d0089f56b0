"""A synthetic stack for the gate benchmark: `units` copies of a small team's services.

Each unit is what a platform team typically runs, built from the paved-road components: a Redis
session store (one instance, waived by W-9001 as in the reference stack), an object bucket, a web
application with ingress and autoscaling, and an API application. Every fifth unit also carries a
hand-written legacy workload that breaks rules (sticky Service, hostPath, one replica, no probe),
so the gate has violations to report at every size. Config `units` sets the size.
"""
import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import (Application, ApplicationArgs, Autoscaling, IngressArgs, ObjectBucket,
                        ObjectBucketArgs, RedisSessionStore, RedisSessionStoreArgs)

config = pulumi.Config()
units = config.require_int("units")
IMAGE = "registry.example.org/shop/web:1.4.2@sha256:" + "9" * 64
REDIS = "registry.example.org/mirror/redis:7.4.2@sha256:" + "7" * 64


def legacy(u: int, ns: str) -> None:
    """A pre-paved-road workload: sticky sessions, files on the host, one replica, no readiness."""
    labels = {"app": f"legacy-{u}"}
    k8s.apps.v1.Deployment(f"legacy-{u}", metadata={"name": f"legacy-{u}", "namespace": ns}, spec={
        "replicas": 1,
        "selector": {"match_labels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "app", "image": IMAGE, "ports": [{"container_port": 8080}],
                            "env": [{"name": "SESSION_ENGINE",
                                     "value": "django.contrib.sessions.backends.file"}],
                            "volume_mounts": [{"name": "uploads", "mount_path": "/srv/uploads"}]}],
            "volumes": [{"name": "uploads", "host_path": {"path": "/srv/uploads"}}]}}})
    k8s.core.v1.Service(f"legacy-{u}", metadata={"name": f"legacy-{u}", "namespace": ns}, spec={
        "selector": labels, "session_affinity": "ClientIP", "ports": [{"port": 80, "target_port": 8080}]})


for u in range(units):
    ns = f"team-{u // 10}"
    if u % 10 == 0:
        namespace = k8s.core.v1.Namespace(ns, metadata={"name": ns, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted"}})
    opts = pulumi.ResourceOptions(depends_on=[namespace])
    sessions = RedisSessionStore(f"sessions-{u}", RedisSessionStoreArgs(
        namespace=ns, image=REDIS, password=config.require_secret("redisPassword"),
        single_instance_waiver="W-9001"), opts=opts)
    uploads = ObjectBucket(f"uploads-{u}", ObjectBucketArgs(namespace=ns, storage_class="dit-s3"), opts=opts)
    Application(f"web-{u}", ApplicationArgs(
        namespace=ns, image=IMAGE, session_store=sessions, buckets=[uploads],
        autoscaling=Autoscaling(max_replicas=6),
        ingress=IngressArgs(host=f"web-{u}.example.org", tls_secret_name=f"web-{u}-tls")), opts=opts)
    Application(f"api-{u}", ApplicationArgs(namespace=ns, image=IMAGE, session_store=sessions), opts=opts)
    if u % 5 == 0:
        legacy(u, ns)
