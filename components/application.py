"""Application: a stateless web workload, interchangeable replicas behind a Service.

Deployment + Service + PodDisruptionBudget + NetworkPolicy, optionally a HorizontalPodAutoscaler
and an Ingress. Defaults make any instance able to serve any request: >= 2 replicas spread over
nodes, zero-downtime rolling updates, probes, bounded scratch space only, no session affinity, and
session/bucket connection data wired in from Secrets and ConfigMaps by reference.

Exceptions (sticky sessions, a persistent volume, a single replica) need the id of a registered
waiver; the component then marks the affected resources (components/waiver_marks.py).

Secrets reach the container as files by default (`secrets_as="files"`, Checkov CKV_K8S_35): the
password is at REDIS_PASSWORD_FILE, bucket keys in the folder <PREFIX>S3_KEYS_DIR. `secrets_as="env"`
exposes them as environment variables (secretKeyRef / envFrom) for apps that cannot read files.
"""
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union, get_args

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import validation
from stateless_pack.components.connections import BucketConnection, SessionStoreConnection
from stateless_pack.components.object_bucket import ObjectBucket
from stateless_pack.components.pod_hardening import (DEFAULT_UID, TMP_VOLUME, Resources, container_security_context,
                                      pod_security_context, scratch_volume)
from stateless_pack.components.session_store import RedisSessionStore
from stateless_pack.components.waiver_marks import merge_waivers, waiver_annotations
from stateless_pack.policies.credentials import is_credential_name

SECRETS_ROOT = "/var/run/secrets/stateless-pack"
SESSION_SECRET_DIR = f"{SECRETS_ROOT}/session-store"
BUCKET_SECRET_ROOT = f"{SECRETS_ROOT}/buckets"


@dataclass(frozen=True)
class Autoscaling:
    """A HorizontalPodAutoscaler on CPU; `min_replicas` replaces `ApplicationArgs.replicas`."""

    max_replicas: int
    """The most instances the autoscaler runs."""
    min_replicas: int = 2
    """The fewest instances: at least 2 unless `single_replica_waiver` is given."""
    cpu_utilization: int = 70
    """The target average CPU use, in % of the CPU request (1 to 100)."""


@dataclass(frozen=True)
class IngressArgs:
    """An Ingress to the Service (no affinity annotations unless sticky sessions are waived)."""

    host: str
    """The host name the Ingress serves (a DNS-1123 subdomain)."""
    path: str = "/"
    """The path prefix routed to the application."""
    class_name: str = "nginx"
    """The IngressClass."""
    tls_secret_name: Optional[str] = None
    """The Secret with the TLS certificate (e.g. cert-manager's); none: plain HTTP."""


@dataclass(frozen=True)
class PersistentVolume:
    """A PersistentVolumeClaim mounted into every replica (needs a waiver; prefer a bucket).

    ReadWriteMany by default: replicas on different nodes must all mount it.
    """

    waiver_id: str
    """The id of a registered waiver for rule no-persistent-volume-claims."""
    mount_path: str
    """Where the volume is mounted (absolute, not /tmp)."""
    size: str = "1Gi"
    """The requested storage (a Kubernetes quantity)."""
    storage_class: Optional[str] = None
    """The StorageClass; none: the cluster's default."""
    access_mode: str = "ReadWriteMany"
    """ReadWriteMany, ReadWriteOnce or ReadWriteOncePod."""


@dataclass(frozen=True)
class ApplicationArgs:
    """Arguments of `Application`. Only `namespace` and `image` are required."""

    namespace: str
    """The namespace of every object (not `default`); the session store and the buckets must be in it too."""
    image: str
    """The container image, pinned: a version tag or a digest (`@sha256:...`), never `latest` or untagged."""
    port: int = 8080
    """The container port the application listens on (named `http`)."""
    service_port: int = 80
    """The Service's port."""
    replicas: int = 2
    """How many interchangeable instances run: at least 2 unless `single_replica_waiver` is given (with
    `autoscaling`, the autoscaler decides)."""
    single_replica_waiver: Optional[str] = None
    """The id of a registered waiver for rule min-replicas: allows `replicas` (or `autoscaling.min_replicas`) of 1."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Plain environment variables, never credentials (a name that looks like one is rejected)."""
    session_store: Optional[Union[RedisSessionStore, SessionStoreConnection]] = None
    """The RedisSessionStore the instances share, or its `connection`: wired in by reference to its
    ConfigMap and Secret."""
    buckets: Sequence[Union[ObjectBucket, BucketConnection]] = ()
    """The ObjectBuckets the application keeps its files in, or their `connection`s: wired in by reference."""
    secrets_as: str = "files"
    """`files`: the Redis password and the bucket keys as files (REDIS_PASSWORD_FILE, <PREFIX>S3_KEYS_DIR);
    `env`: as environment variables, for applications that cannot read files."""
    resources: Resources = field(default_factory=Resources)
    """CPU and memory requests and limits of the container."""
    readiness_path: str = "/ready"
    """The HTTP path of the readiness probe."""
    liveness_path: str = "/live"
    """The HTTP path of the liveness probe."""
    tmp_size_limit: str = "64Mi"
    """The size of /tmp, the only writable place (a bounded emptyDir)."""
    autoscaling: Optional[Autoscaling] = None
    """A HorizontalPodAutoscaler instead of a fixed replica count."""
    ingress: Optional[IngressArgs] = None
    """An Ingress to the Service."""
    ingress_from: Optional[Sequence[Mapping[str, Any]]] = None
    """NetworkPolicy peers (`from` entries) allowed to reach the application; none: any source, on the
    application's port only."""
    service_account_name: Optional[str] = None
    """The ServiceAccount the pods run as; none: the namespace's default."""
    mount_service_account_token: bool = False
    """Mount the ServiceAccount's API token (only for applications that call the Kubernetes API)."""
    sticky_sessions: bool = False
    """Pin each client to one instance (ClientIP affinity, and cookie affinity at an nginx Ingress): breaks
    statelessness, so it needs `sticky_sessions_waiver`."""
    sticky_sessions_waiver: Optional[str] = None
    """The id of a registered waiver for sticky sessions, approved by the Head of DevOps."""
    persistent_volume: Optional[PersistentVolume] = None
    """A waived PersistentVolumeClaim mounted into every instance (prefer a bucket)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on every object."""


def _validate(name: str, args: ApplicationArgs) -> tuple[Optional[SessionStoreConnection], list[BucketConnection]]:
    """Every check; returns the connections of the session store and the buckets."""
    v = validation
    v.dns1123_label(name, "application name")
    v.namespace(args.namespace)
    v.image(args.image)
    v.port(args.port, "port")
    v.port(args.service_port, "service_port")
    _validate_replicas(args)
    _validate_env(args)
    v.one_of(args.secrets_as, ("files", "env"), "secrets_as")
    args.resources.validate("resources")
    for path, what in ((args.readiness_path, "readiness_path"), (args.liveness_path, "liveness_path")):
        if not isinstance(path, str) or not path.startswith("/"):
            raise v.ComponentArgumentError(f"{what} {path!r} must be an absolute HTTP path")
    v.quantity(args.tmp_size_limit, "tmp_size_limit")
    connections = _validate_connections(args)
    _validate_exceptions(args)
    if args.ingress is not None:
        v.dns1123_subdomain(args.ingress.host, "ingress.host")
        if args.ingress.tls_secret_name is not None:
            v.dns1123_subdomain(args.ingress.tls_secret_name, "ingress.tls_secret_name")
    return connections


def _validate_replicas(args: ApplicationArgs) -> None:
    v = validation
    if args.single_replica_waiver is not None:
        v.waiver_id(args.single_replica_waiver, "single_replica_waiver")
    if args.autoscaling is not None:
        a = args.autoscaling
        v.replicas(a.min_replicas, args.single_replica_waiver, "autoscaling.min_replicas")
        v.positive_int(a.max_replicas, "autoscaling.max_replicas", a.min_replicas)
        if not isinstance(a.cpu_utilization, int) or not 1 <= a.cpu_utilization <= 100:
            raise v.ComponentArgumentError(
                f"autoscaling.cpu_utilization {a.cpu_utilization!r} must be an integer from 1 to 100")
    else:
        v.replicas(args.replicas, args.single_replica_waiver)


def _validate_env(args: ApplicationArgs) -> None:
    for key, value in args.env.items():
        validation.env_name(key)
        if not isinstance(value, str):
            raise validation.ComponentArgumentError(f"env {key} must be a string, got {type(value).__name__}")
        if is_credential_name(key):  # rule no-literal-credentials would block the literal
            raise validation.ComponentArgumentError(
                f"env {key} looks like a credential: a literal would sit in the manifest in clear text; "
                "keep it in a Secret (session_store/buckets wire theirs by reference)")


def _connection_of(value: Any, component: type, connection: type, what: str) -> dict:
    """A component's `connection`, or a connection given as data (with every key it must have)."""
    if isinstance(value, component):
        return value.connection
    required = {key for key, hint in connection.__annotations__.items() if type(None) not in get_args(hint)}
    if not isinstance(value, Mapping) or not required <= set(value):
        article = "an" if component.__name__[0] in "AEIOU" else "a"
        raise validation.ComponentArgumentError(f"{what} must be {article} {component.__name__} or its `connection`")
    return dict(value)


def _validate_connections(args: ApplicationArgs) -> tuple[Optional[SessionStoreConnection], list[BucketConnection]]:
    """The session store and buckets: ours, in the application's namespace."""
    v = validation
    store = None
    if args.session_store is not None:
        store = _connection_of(args.session_store, RedisSessionStore, SessionStoreConnection, "session_store")
        if store["namespace"] != args.namespace:
            raise v.ComponentArgumentError(
                f"session store {store['name']!r} is in namespace {store['namespace']!r}, the application in "
                f"{args.namespace!r}: Secrets and ConfigMaps can only be referenced within one namespace")
    buckets = [_connection_of(b, ObjectBucket, BucketConnection, "buckets") for b in args.buckets]
    prefixes = set()
    for bucket in buckets:
        if bucket["namespace"] != args.namespace:
            raise v.ComponentArgumentError(
                f"bucket {bucket['name']!r} is in namespace {bucket['namespace']!r}, the application in "
                f"{args.namespace!r}: its Secret cannot be referenced from there")
        if bucket["env_prefix"] in prefixes:
            raise v.ComponentArgumentError(f"two buckets share the env prefix {bucket['env_prefix']!r}")
        prefixes.add(bucket["env_prefix"])
    return store, buckets


def _validate_exceptions(args: ApplicationArgs) -> None:
    """Sticky sessions and a persistent volume: only with their waivers."""
    v = validation
    if args.sticky_sessions and args.sticky_sessions_waiver is None:
        raise v.ComponentArgumentError(
            "sticky_sessions pins users to one instance, which breaks statelessness: it needs "
            "`sticky_sessions_waiver`, the id of a registered waiver approved by the Head of DevOps")
    if args.sticky_sessions_waiver is not None:
        if not args.sticky_sessions:
            raise v.ComponentArgumentError("sticky_sessions_waiver is given but sticky_sessions is False")
        v.waiver_id(args.sticky_sessions_waiver, "sticky_sessions_waiver")
    if args.persistent_volume is not None:
        pv = args.persistent_volume
        if not pv.waiver_id:
            raise v.ComponentArgumentError(
                "persistent_volume needs `waiver_id`, a registered waiver for rule "
                "no-persistent-volume-claims (prefer an ObjectBucket)")
        v.waiver_id(pv.waiver_id, "persistent_volume.waiver_id")
        v.quantity(pv.size, "persistent_volume.size")
        v.one_of(pv.access_mode, ("ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"),
                 "persistent_volume.access_mode")
        if not isinstance(pv.mount_path, str) or not pv.mount_path.startswith("/") or pv.mount_path == "/tmp":
            raise v.ComponentArgumentError(
                f"persistent_volume.mount_path {pv.mount_path!r} must be an absolute path other than /tmp")


class Application(pulumi.ComponentResource):
    """A stateless application: interchangeable replicas behind a Service, with a disruption budget and a
    NetworkPolicy, optionally an autoscaler and an Ingress; its session store and buckets wired in by reference.

    Outputs: `deployment_name`, `service_name`, `service_host`.
    """

    _type_token = "stateless-pack:components:Application"
    deployment_name: pulumi.Output[str]
    """The Deployment's name."""
    service_name: pulumi.Output[str]
    """The Service's name."""
    service_host: pulumi.Output[str]
    """The Service's host name in the cluster (<name>.<namespace>.svc.cluster.local)."""

    def __init__(self, name: str, args: ApplicationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        store, buckets = _validate(name, args)
        super().__init__(self._type_token, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
        labels = {**selector, "app.kubernetes.io/managed-by": "stateless-pack", **args.labels}
        metadata = {"name": name, "namespace": ns, "labels": labels}

        min_replicas = args.autoscaling.min_replicas if args.autoscaling else args.replicas
        replica_waiver = ({args.single_replica_waiver: ["min-replicas"]}
                          if min_replicas < 2 and args.single_replica_waiver else {})
        deployment = self._deployment(name, args, metadata, selector, replica_waiver, (store, buckets), child)
        service = self._service(name, args, metadata, selector, child)

        # maxUnavailable 1: a node drain evicts one replica at a time and never blocks forever.
        k8s.policy.v1.PodDisruptionBudget(
            name, opts=child, metadata=metadata,
            spec={"max_unavailable": 1, "selector": {"match_labels": selector}})
        rule = {"ports": [{"protocol": "TCP", "port": args.port}]}
        if args.ingress_from is not None:
            rule["from"] = [dict(p) for p in args.ingress_from]
        k8s.networking.v1.NetworkPolicy(
            name, opts=child, metadata=metadata,
            spec={"pod_selector": {"match_labels": selector}, "policy_types": ["Ingress"], "ingress": [rule]})
        if args.autoscaling is not None:
            self._autoscaler(name, args, metadata, deployment, replica_waiver, child)
        if args.ingress is not None:
            self._ingress(name, args, labels, service, child)

        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.service_host = service.metadata.name.apply(lambda n: f"{n}.{ns}.svc.cluster.local")
        self.register_outputs({"deployment_name": self.deployment_name, "service_name": self.service_name,
                               "service_host": self.service_host})

    def _deployment(self, name: str, args: ApplicationArgs, metadata: dict, selector: dict, replica_waiver: dict,
                    connections: tuple, child: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        store, buckets = connections
        pod_labels = dict(metadata["labels"])
        if store is not None:
            pod_labels.update(store["client_labels"])  # admitted by the store's NetworkPolicy
        env, env_from, mounts, volumes = self._connections(args, store, buckets)
        mounts.insert(0, {"name": TMP_VOLUME, "mount_path": "/tmp"})
        volumes.insert(0, scratch_volume(TMP_VOLUME, args.tmp_size_limit))
        pv_waiver = self._persistent_volume(name, args, metadata, mounts, volumes, child)
        container = {
            "name": name,
            "image": args.image,
            "image_pull_policy": "Always",
            "ports": [{"container_port": args.port, "name": "http"}],
            "readiness_probe": {"http_get": {"path": args.readiness_path, "port": "http"}, "period_seconds": 5},
            "liveness_probe": {"http_get": {"path": args.liveness_path, "port": "http"},
                               "initial_delay_seconds": 10, "period_seconds": 10},
            "resources": args.resources.spec(),
            "security_context": container_security_context(DEFAULT_UID),
            "env": env or None,
            "env_from": env_from or None,
            "volume_mounts": mounts,
        }
        pod = {
            "automount_service_account_token": args.mount_service_account_token,
            "service_account_name": args.service_account_name,
            "enable_service_links": False,  # no surprise env vars from other Services
            "security_context": pod_security_context(DEFAULT_UID),
            # maxSkew 1 over nodes: losing one node never takes every replica (a one-node cluster
            # still schedules: the skew there is always 0)
            "topology_spread_constraints": [{
                "max_skew": 1, "topology_key": "kubernetes.io/hostname", "when_unsatisfiable": "DoNotSchedule",
                "label_selector": {"match_labels": selector}}],
            "containers": [container],
            "volumes": volumes,
        }
        spec = {"selector": {"match_labels": selector},
                "strategy": {"type": "RollingUpdate",  # a new pod is ready before an old one goes
                             "rolling_update": {"max_unavailable": 0, "max_surge": 1}},
                "template": {"metadata": {"labels": pod_labels}, "spec": pod}}
        if args.autoscaling is None:  # with an HPA, the HPA owns the replica count
            spec["replicas"] = args.replicas
        annotations = waiver_annotations(merge_waivers(replica_waiver, pv_waiver)) or None
        return k8s.apps.v1.Deployment(name, opts=child, spec=spec, metadata={**metadata, "annotations": annotations})

    @staticmethod
    def _persistent_volume(name: str, args: ApplicationArgs, metadata: dict, mounts: list, volumes: list,
                           child: pulumi.ResourceOptions) -> dict:
        """The waived claim, mounted (appends to mounts/volumes); returns its {waiver: rules}."""
        pv = args.persistent_volume
        if pv is None:
            return {}
        pv_waiver = {pv.waiver_id: ["no-persistent-volume-claims"]}
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data", opts=child,
            metadata={**metadata, "name": f"{name}-data", "annotations": waiver_annotations(pv_waiver)},
            spec={"access_modes": [pv.access_mode], "storage_class_name": pv.storage_class,
                  "resources": {"requests": {"storage": pv.size}}})
        volumes.append({"name": "data", "persistent_volume_claim": {"claim_name": claim.metadata.name}})
        mounts.append({"name": "data", "mount_path": pv.mount_path})
        return pv_waiver

    @staticmethod
    def _service(name: str, args: ApplicationArgs, metadata: dict, selector: dict,
                 child: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        sticky = {args.sticky_sessions_waiver: ["no-sticky-service"]} if args.sticky_sessions else {}
        spec = {"type": "ClusterIP", "selector": selector,
                "session_affinity": "ClientIP" if args.sticky_sessions else "None",
                "ports": [{"name": "http", "port": args.service_port, "target_port": "http"}]}
        if args.sticky_sessions:
            spec["session_affinity_config"] = {"client_ip": {"timeout_seconds": 3600}}
        return k8s.core.v1.Service(name, opts=child, spec=spec,
                                   metadata={**metadata, "annotations": waiver_annotations(sticky) or None})

    @staticmethod
    def _autoscaler(name: str, args: ApplicationArgs, metadata: dict, deployment: k8s.apps.v1.Deployment,
                    replica_waiver: dict, child: pulumi.ResourceOptions) -> None:
        a = args.autoscaling
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            name, opts=child, metadata={**metadata, "annotations": waiver_annotations(replica_waiver) or None},
            spec={"scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment",
                                       "name": deployment.metadata.name},
                  "min_replicas": a.min_replicas, "max_replicas": a.max_replicas,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization", "average_utilization": a.cpu_utilization}}}]})

    @staticmethod
    def _connections(args: ApplicationArgs, store: Optional[SessionStoreConnection],
                     buckets: list[BucketConnection]) -> tuple[list, list, list, list]:
        """(env, envFrom, volumeMounts, volumes) that wire the session store and the buckets in."""
        env = [{"name": k, "value": v} for k, v in args.env.items()]
        env_from: list = []
        mounts: list = []
        volumes: list = []
        as_files = args.secrets_as == "files"
        if store is not None:
            for key in store["connection_keys"]:  # REDIS_SENTINELS/REDIS_MASTER_NAME or REDIS_HOST/REDIS_PORT
                env.append({"name": key, "value_from": {"config_map_key_ref": {
                    "name": store["config_map_name"], "key": key}}})
            if as_files:
                volumes.append({"name": "session-store", "secret": {
                    "secret_name": store["password_secret_name"], "default_mode": 0o440,
                    "items": [{"key": store["password_secret_key"], "path": "password"}]}})
                mounts.append({"name": "session-store", "mount_path": SESSION_SECRET_DIR, "read_only": True})
                env.append({"name": "REDIS_PASSWORD_FILE", "value": f"{SESSION_SECRET_DIR}/password"})
            else:
                env.append({"name": "REDIS_PASSWORD", "value_from": {"secret_key_ref": {
                    "name": store["password_secret_name"], "key": store["password_secret_key"]}}})
        for bucket in buckets:
            prefix = bucket["env_prefix"]
            if bucket["api"] == "obc":  # BUCKET_HOST, BUCKET_NAME, ... as <PREFIX>BUCKET_HOST, ...
                env_from.append({"prefix": prefix, "config_map_ref": {"name": bucket["config_map_name"]}})
            if as_files:
                volume = f"bucket-{bucket['name']}"
                folder = f"{BUCKET_SECRET_ROOT}/{bucket['name']}"
                volumes.append({"name": volume, "secret": {"secret_name": bucket["secret_name"],
                                                           "default_mode": 0o440}})
                mounts.append({"name": volume, "mount_path": folder, "read_only": True})
                env.append({"name": f"{prefix}S3_KEYS_DIR", "value": folder})
            else:
                env_from.append({"prefix": prefix, "secret_ref": {"name": bucket["secret_name"]}})
        return env, env_from, mounts, volumes

    @staticmethod
    def _ingress(name: str, args: ApplicationArgs, labels: dict, service, child) -> None:
        ing = args.ingress
        annotations = {}
        if args.sticky_sessions:  # the edge must pin too, or the Service's ClientIP sees the proxy
            annotations = {"nginx.ingress.kubernetes.io/affinity": "cookie",
                           "nginx.ingress.kubernetes.io/session-cookie-name": f"{name}-affinity",
                           **waiver_annotations({args.sticky_sessions_waiver: ["no-sticky-edge"]})}
        spec = {"ingress_class_name": ing.class_name,
                "rules": [{"host": ing.host, "http": {"paths": [{
                    "path": ing.path, "path_type": "Prefix",
                    "backend": {"service": {"name": service.metadata.name, "port": {"name": "http"}}}}]}}]}
        if ing.tls_secret_name:
            spec["tls"] = [{"hosts": [ing.host], "secret_name": ing.tls_secret_name}]
        k8s.networking.v1.Ingress(
            name, opts=child, spec=spec,
            metadata={"name": name, "namespace": args.namespace, "labels": labels,
                      "annotations": annotations or None})
