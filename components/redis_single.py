"""The session store's single-instance mode: one Redis pod, for development, behind a waiver.

Two independent Redis pods behind one Service would each hold half of the sessions and sign users
out on every other request, so this mode runs exactly one, with the Recreate strategy (never two
during an update), and needs the id of a registered waiver for rule min-replicas. Losing the pod
signs every user out; the replicated mode (components/redis_sentinel.py) is the one to run.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components.pod_hardening import scratch_volume
from stateless_pack.components.redis_config import RedisConfig, render
from stateless_pack.components.redis_pods import (CONFIG_PATH, DATA_PATH, auth_secret, container, labels_of,
                                                  metadata, network_policy, pod_spec, secret_volume, selector_of,
                                                  tcp_port)
from stateless_pack.components.session_store_args import PASSWORD_KEY, REDIS_PORT, RedisSessionStoreArgs
from stateless_pack.components.waiver_marks import waiver_annotations

CONFIG_FILE = "redis.conf"


def build(name: str, args: RedisSessionStoreArgs, client_labels: dict,
          opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
    """Secret, Deployment, Service and NetworkPolicy of one Redis; returns the password's Secret."""
    labels = labels_of(name, "redis", args.labels)
    password = pulumi.Output.secret(args.password)  # secret even if a plain string was passed
    persistence = args.persistence
    conf = password.apply(lambda pw: render(RedisConfig(
        password=pw, maxmemory_mb=args.maxmemory_mb, maxmemory_policy=args.maxmemory_policy,
        port=REDIS_PORT, persistence=persistence is not None, data_dir=DATA_PATH)))
    secret = auth_secret(f"{name}-auth", args.namespace, labels, {PASSWORD_KEY: password, CONFIG_FILE: conf},
                         opts)
    _deployment(name, args, labels, secret, _data_volume(name, args, labels, opts), opts)
    k8s.core.v1.Service(
        name, opts=opts, metadata=metadata(name, args.namespace, labels),
        spec={"type": "ClusterIP", "session_affinity": "None", "selector": selector_of(labels),
              "ports": [{"name": "redis", "port": REDIS_PORT, "target_port": "redis"}]})
    # Only pods labelled as clients of this store reach it; Redis itself needs no egress at all.
    network_policy(name, args.namespace, labels, opts=opts, egress=[], ingress=[
        {"from": [{"pod_selector": {"match_labels": client_labels}}], "ports": [tcp_port(REDIS_PORT)]}])
    return secret


def _data_volume(name: str, args: RedisSessionStoreArgs, labels: dict, opts: pulumi.ResourceOptions) -> dict:
    """Redis' working dir: a bounded emptyDir, or the waived PersistentVolumeClaim."""
    persistence = args.persistence
    if persistence is None:
        return scratch_volume("data", args.data_size_limit)
    marks = waiver_annotations({persistence.waiver_id: ["no-persistent-volume-claims"]})
    claim = k8s.core.v1.PersistentVolumeClaim(
        f"{name}-data", opts=opts, metadata=metadata(f"{name}-data", args.namespace, labels, marks),
        spec={"access_modes": ["ReadWriteOnce"], "storage_class_name": persistence.storage_class,
              "resources": {"requests": {"storage": persistence.size}}})
    return {"name": "data", "persistent_volume_claim": {"claim_name": claim.metadata.name}}


def _deployment(name: str, args: RedisSessionStoreArgs, labels: dict, secret: k8s.core.v1.Secret,
                data_volume: dict, opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
    waived = {args.single_instance_waiver: ["min-replicas"]}
    if args.persistence is not None:
        waived.setdefault(args.persistence.waiver_id, []).append("no-persistent-volume-claims")
    redis = container(
        "redis", args.image, args.redis_resources(),
        command=["redis-server", f"{CONFIG_PATH}/{CONFIG_FILE}"],
        ports=[{"container_port": REDIS_PORT, "name": "redis"}],
        readiness_probe={"tcp_socket": {"port": "redis"}, "period_seconds": 5},
        liveness_probe={"tcp_socket": {"port": "redis"}, "initial_delay_seconds": 10},
        volume_mounts=[{"name": "config", "mount_path": CONFIG_PATH, "read_only": True},
                       {"name": "data", "mount_path": DATA_PATH}])
    return k8s.apps.v1.Deployment(
        name, opts=opts, metadata=metadata(name, args.namespace, labels, waiver_annotations(waived)),
        spec={"replicas": 1,
              "strategy": {"type": "Recreate"},  # never two instances holding different sessions
              "selector": {"match_labels": selector_of(labels)},
              "template": {"metadata": {"labels": labels}, "spec": pod_spec(
                  [redis], [secret_volume("config", secret.metadata.name, [CONFIG_FILE]), data_volume])}})
