"""RedisSessionStore: the shared session store every instance of an application reaches.

In-cluster mode runs one Redis with a generated redis.conf (components/redis_config.py) that lives
in a Kubernetes Secret, because it holds the password. External mode creates no Redis at all and
only publishes the connection of an existing one. Either way an application receives the same
things: a ConfigMap with REDIS_HOST/REDIS_PORT and a Secret key with the password.

Why one Redis replica: two independent Redis pods behind one Service would each hold half of the
sessions, and a user would be signed out on every other request. High availability needs Redis
replication with Sentinel (or a managed Redis in external mode), so in-cluster mode is a single
instance and *requires* the id of a registered waiver for rule min-replicas; it uses the Recreate
strategy so two instances never split the sessions during an update.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import validation
from stateless_pack.components.pod_hardening import (DEFAULT_UID, Resources, container_security_context,
                                      pod_security_context, scratch_volume)
from stateless_pack.components.redis_config import RedisConfig, render, validate_password
from stateless_pack.components.waiver_marks import waiver_annotations

REDIS_PORT = 6379
CONFIG_PATH = "/etc/redis"
CONFIG_FILE = "redis.conf"
PASSWORD_KEY = "password"
DATA_PATH = "/data"
CLIENT_LABEL = "stateless-pack.io/session-store-client"  # NetworkPolicy admits pods with this label


@dataclass(frozen=True)
class RedisPersistence:
    """Keep sessions across Redis restarts on a PersistentVolumeClaim (needs a waiver).

    Sessions are disposable by design (a restart signs users in again); ask for this only when a
    restart is not acceptable, and record why in the waiver.
    """

    waiver_id: str                    # registered waiver for rule no-persistent-volume-claims
    size: str = "1Gi"
    storage_class: Optional[str] = None


@dataclass(frozen=True)
class ExternalRedis:
    """An existing Redis (managed service, HA cluster): only its connection is published."""

    host: str
    password_secret_name: str         # an existing Secret in the same namespace
    password_secret_key: str = PASSWORD_KEY
    port: int = REDIS_PORT


@dataclass(frozen=True)
class RedisSessionStoreArgs:
    """Arguments of `RedisSessionStore`.

    In-cluster mode (default): give `password` (a Pulumi secret, e.g. `config.require_secret(...)`)
    and `single_instance_waiver`. External mode: give `external` and nothing of the in-cluster ones.
    """

    namespace: str
    password: Optional[pulumi.Input[str]] = None
    single_instance_waiver: Optional[str] = None   # waiver id for rule min-replicas (see module doc)
    image: str = "redis:7.4.2"
    maxmemory_mb: int = 192
    maxmemory_policy: str = "allkeys-lru"
    resources: Optional[Resources] = None           # default: derived from maxmemory_mb
    data_size_limit: str = "64Mi"                   # emptyDir for Redis' working dir (no persistence)
    persistence: Optional[RedisPersistence] = None
    external: Optional[ExternalRedis] = None
    labels: Mapping[str, str] = field(default_factory=dict)


def _default_resources(maxmemory_mb: int) -> Resources:
    # Redis needs room above maxmemory (buffers, fragmentation): a third more, at least 64Mi.
    limit = maxmemory_mb + max(64, maxmemory_mb // 3)
    return Resources(cpu_request="50m", memory_request=f"{limit}Mi", cpu_limit="500m",
                     memory_limit=f"{limit}Mi")


def _validate(name: str, args: RedisSessionStoreArgs) -> None:
    validation.dns1123_label(name, "session store name")
    validation.namespace(args.namespace)
    if args.external is not None:
        given = [f for f in ("password", "single_instance_waiver", "persistence")
                 if getattr(args, f) is not None]
        if given:
            raise validation.ComponentArgumentError(
                f"external mode wires an existing Redis: {', '.join(given)} would not be used; drop it")
        validation.dns1123_subdomain(args.external.host, "external Redis host")
        validation.port(args.external.port, "external Redis port")
        validation.dns1123_subdomain(args.external.password_secret_name, "external password Secret name")
        if not args.external.password_secret_key:
            raise validation.ComponentArgumentError("external password_secret_key must not be empty")
        return
    if args.password is None:
        raise validation.ComponentArgumentError(
            "in-cluster mode needs `password` (a Pulumi secret, e.g. config.require_secret('redisPassword')), "
            "or use `external` to wire an existing Redis")
    if isinstance(args.password, str):
        validate_password(args.password)
    if args.single_instance_waiver is None:
        raise validation.ComponentArgumentError(
            "in-cluster Redis runs one instance (two would split the sessions), which rule min-replicas "
            "forbids without a waiver: pass `single_instance_waiver` with a registered waiver id, or use "
            "`external` with a highly available Redis")
    validation.waiver_id(args.single_instance_waiver, "single_instance_waiver")
    validation.image(args.image, "Redis image")
    validation.positive_int(args.maxmemory_mb, "maxmemory_mb")
    validation.quantity(args.data_size_limit, "data_size_limit")
    if args.resources is not None:
        args.resources.validate("resources")
    if args.persistence is not None:
        validation.waiver_id(args.persistence.waiver_id, "persistence.waiver_id")
        validation.quantity(args.persistence.size, "persistence.size")


class RedisSessionStore(pulumi.ComponentResource):
    """A Redis session store (in-cluster or external) and the connection apps read.

    Outputs: `host`, `port`, `password_secret_name`, `password_secret_key`, `config_map_name`
    (REDIS_HOST / REDIS_PORT). `client_labels` are the pod labels its NetworkPolicy admits.
    """

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    password_secret_name: pulumi.Output[str]
    password_secret_key: pulumi.Output[str]
    config_map_name: pulumi.Output[str]

    def __init__(self, name: str, args: RedisSessionStoreArgs,
                 opts: Optional[pulumi.ResourceOptions] = None):
        _validate(name, args)
        super().__init__("stateless-pack:components:RedisSessionStore", name, None, opts)
        self.name = name
        self.namespace = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        self.client_labels = {CLIENT_LABEL: name}
        labels = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": name,
                  "app.kubernetes.io/component": "session-store",
                  "app.kubernetes.io/managed-by": "stateless-pack", **args.labels}

        if args.external is not None:
            ext = args.external
            host, port = ext.host, ext.port
            secret_name = pulumi.Output.from_input(ext.password_secret_name)
            secret_key = ext.password_secret_key
        else:
            host, port = f"{name}.{args.namespace}.svc.cluster.local", REDIS_PORT
            secret = self._in_cluster(name, args, labels, child)
            secret_name, secret_key = secret.metadata.name, PASSWORD_KEY

        connection = k8s.core.v1.ConfigMap(
            f"{name}-connection", opts=child,
            metadata={"name": f"{name}-connection", "namespace": args.namespace, "labels": labels},
            data={"REDIS_HOST": host, "REDIS_PORT": str(port)})

        self.host = pulumi.Output.from_input(host)
        self.port = pulumi.Output.from_input(port)
        self.password_secret_name = secret_name
        self.password_secret_key = pulumi.Output.from_input(secret_key)
        self.config_map_name = connection.metadata.name
        self.register_outputs({"host": self.host, "port": self.port,
                               "password_secret_name": self.password_secret_name,
                               "password_secret_key": self.password_secret_key,
                               "config_map_name": self.config_map_name})

    def _in_cluster(self, name: str, args: RedisSessionStoreArgs, labels: dict,
                    child: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        password = pulumi.Output.secret(args.password)  # secret even if a plain string was passed
        persistence = args.persistence
        conf = password.apply(lambda pw: render(RedisConfig(
            password=pw, maxmemory_mb=args.maxmemory_mb, maxmemory_policy=args.maxmemory_policy,
            port=REDIS_PORT, persistence=persistence is not None, data_dir=DATA_PATH)))
        secret = k8s.core.v1.Secret(
            f"{name}-auth", opts=child, type="Opaque",
            metadata={"name": f"{name}-auth", "namespace": args.namespace, "labels": labels},
            string_data={PASSWORD_KEY: password, CONFIG_FILE: conf})

        if persistence is not None:
            pvc_marks = waiver_annotations({persistence.waiver_id: ["no-persistent-volume-claims"]})
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-data", opts=child,
                metadata={"name": f"{name}-data", "namespace": args.namespace, "labels": labels,
                          "annotations": pvc_marks},
                spec={"access_modes": ["ReadWriteOnce"], "storage_class_name": persistence.storage_class,
                      "resources": {"requests": {"storage": persistence.size}}})
            data_volume = {"name": "data", "persistent_volume_claim": {"claim_name": claim.metadata.name}}
        else:
            data_volume = scratch_volume("data", args.data_size_limit)

        waived = {args.single_instance_waiver: ["min-replicas"]}
        if persistence is not None:
            waived.setdefault(persistence.waiver_id, []).append("no-persistent-volume-claims")
        selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
        resources = (args.resources or _default_resources(args.maxmemory_mb)).spec()
        k8s.apps.v1.Deployment(
            name, opts=child,
            metadata={"name": name, "namespace": args.namespace, "labels": labels,
                      "annotations": waiver_annotations(waived)},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # never two instances holding different sessions
                "selector": {"match_labels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automount_service_account_token": False,
                        "enable_service_links": False,
                        "security_context": pod_security_context(DEFAULT_UID),
                        "containers": [{
                            "name": "redis",
                            "image": args.image,
                            "image_pull_policy": "Always",
                            "command": ["redis-server", f"{CONFIG_PATH}/{CONFIG_FILE}"],
                            "ports": [{"container_port": REDIS_PORT, "name": "redis"}],
                            "readiness_probe": {"tcp_socket": {"port": "redis"}, "period_seconds": 5},
                            "liveness_probe": {"tcp_socket": {"port": "redis"}, "initial_delay_seconds": 10},
                            "resources": resources,
                            "security_context": container_security_context(DEFAULT_UID),
                            "volume_mounts": [
                                {"name": "config", "mount_path": CONFIG_PATH, "read_only": True},
                                {"name": "data", "mount_path": DATA_PATH},
                            ],
                        }],
                        "volumes": [
                            {"name": "config", "secret": {
                                "secret_name": secret.metadata.name, "default_mode": 0o440,
                                "items": [{"key": CONFIG_FILE, "path": CONFIG_FILE}]}},
                            data_volume,
                        ],
                    },
                },
            })

        k8s.core.v1.Service(
            name, opts=child,
            metadata={"name": name, "namespace": args.namespace, "labels": labels},
            spec={"type": "ClusterIP", "session_affinity": "None", "selector": selector,
                  "ports": [{"name": "redis", "port": REDIS_PORT, "target_port": "redis"}]})

        # Only pods labelled as clients of this store reach it; Redis itself needs no egress at all.
        k8s.networking.v1.NetworkPolicy(
            name, opts=child,
            metadata={"name": name, "namespace": args.namespace, "labels": labels},
            spec={"pod_selector": {"match_labels": selector},
                  "policy_types": ["Ingress", "Egress"],
                  "ingress": [{"from": [{"pod_selector": {"match_labels": self.client_labels}}],
                               "ports": [{"protocol": "TCP", "port": REDIS_PORT}]}],
                  "egress": []})
        return secret
