"""The arguments of `RedisSessionStore`, its three modes, and their program-time checks.

- Replicated (the default in-cluster mode): Redis replication with Sentinel (`HighAvailability`).
- Single instance (`single_instance_waiver`): one Redis pod, for development; needs a waiver.
- External (`external`): an existing Redis; only its connection is published.
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi

from stateless_pack.components import validation
from stateless_pack.components.pod_hardening import Resources
from stateless_pack.components.redis_config import validate_password

REDIS_PORT = 6379
PASSWORD_KEY = "password"


@dataclass(frozen=True)
class RedisPersistence:
    """Keep sessions across Redis restarts on a PersistentVolumeClaim (single instance only; needs a waiver).

    Sessions are disposable by design (a restart signs users in again); ask for this only when a
    restart is not acceptable, and record why in the waiver. The replicated mode keeps sessions
    across the loss of a pod without any volume.
    """

    waiver_id: str
    """The id of a registered waiver for rule no-persistent-volume-claims."""
    size: str = "1Gi"
    """The requested storage (a Kubernetes quantity)."""
    storage_class: Optional[str] = None
    """The StorageClass; none: the cluster's default."""


@dataclass(frozen=True)
class ExternalRedis:
    """An existing Redis (managed service, HA cluster): only its connection is published."""

    host: str
    """The Redis host name."""
    password_secret_name: str
    """An existing Secret with the password, in the store's namespace."""
    password_secret_key: str = PASSWORD_KEY
    """The password's key in that Secret."""
    port: int = REDIS_PORT
    """The Redis port."""


@dataclass(frozen=True)
class HighAvailability:
    """The replicated mode: `redis_replicas` Redis pods (one master) watched by `sentinels` Sentinels.

    A failover starts when a majority of the Sentinels has not heard from the master for
    `down_after_ms`; sessions written before it survive on the replicas.
    """

    redis_replicas: int = 3
    """Redis pods, one of them the master (at least 2)."""
    sentinels: int = 3
    """Sentinel pods: odd and at least 3, so that a majority survives the loss of one."""
    down_after_ms: int = 5000
    """How long the master may be silent before a Sentinel thinks it down (ms)."""
    failover_timeout_ms: int = 60000
    """Sentinel's failover timeout (ms)."""
    bootstrap_seconds: int = 120
    """How long a starting pod may look for its role before it restarts."""
    sentinel_resources: Resources = field(default_factory=lambda: Resources(
        cpu_request="20m", memory_request="32Mi", cpu_limit="200m", memory_limit="64Mi"))
    """CPU and memory of each Sentinel."""

    @property
    def quorum(self) -> int:
        return self.sentinels // 2 + 1


@dataclass(frozen=True)
class RedisSessionStoreArgs:
    """Arguments of `RedisSessionStore`.

    In-cluster modes: give `image` (pinned, ideally by digest) and `password` (a Pulumi secret,
    e.g. `config.require_secret(...)`). Replicated by default; `single_instance_waiver` (a waiver id
    for rule min-replicas) selects one pod instead. External mode: give `external` and nothing else.
    """

    namespace: str
    """The namespace of every object (not `default`); the applications must be in it too."""
    image: Optional[str] = None
    """The Redis image, pinned (ideally by digest); required in-cluster, no default."""
    password: Optional[pulumi.Input[str]] = None
    """The Redis password (a secret; it stays one); required in-cluster."""
    high_availability: HighAvailability = field(default_factory=HighAvailability)
    """The replicated mode's Redis pods and Sentinels."""
    single_instance_waiver: Optional[str] = None
    """The id of a registered waiver for rule min-replicas: one Redis pod instead of the replicated set."""
    maxmemory_mb: int = 192
    """Redis' memory for sessions (MB); beyond it, keys are evicted by `maxmemory_policy`."""
    maxmemory_policy: str = "allkeys-lru"
    """Redis' eviction policy."""
    resources: Optional[Resources] = None
    """CPU and memory of each Redis pod; default: derived from `maxmemory_mb`."""
    data_size_limit: str = "64Mi"
    """The size of Redis' working folder (a bounded emptyDir: no persistence)."""
    persistence: Optional[RedisPersistence] = None
    """A waived volume that keeps sessions across restarts (single instance only)."""
    external: Optional[ExternalRedis] = None
    """An existing Redis: only its connection is published (give nothing else)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on every object."""

    @property
    def replicated(self) -> bool:
        return self.external is None and self.single_instance_waiver is None

    def redis_resources(self) -> Resources:
        # Redis needs room above maxmemory (buffers, fragmentation): a third more, at least 64Mi.
        if self.resources is not None:
            return self.resources
        limit = self.maxmemory_mb + max(64, self.maxmemory_mb // 3)
        return Resources(cpu_request="50m", memory_request=f"{limit}Mi", cpu_limit="500m",
                         memory_limit=f"{limit}Mi")


def validate(name: str, args: RedisSessionStoreArgs) -> None:
    validation.dns1123_label(name, "session store name")
    validation.namespace(args.namespace)
    if args.external is not None:
        _validate_external(args)
    else:
        _validate_in_cluster(args)


def _validate_external(args: RedisSessionStoreArgs) -> None:
    given = [f for f in ("image", "password", "single_instance_waiver", "persistence")
             if getattr(args, f) is not None]
    if given:
        raise validation.ComponentArgumentError(
            f"external mode wires an existing Redis: {', '.join(given)} would not be used; drop it")
    validation.dns1123_subdomain(args.external.host, "external Redis host")
    validation.port(args.external.port, "external Redis port")
    validation.dns1123_subdomain(args.external.password_secret_name, "external password Secret name")
    if not args.external.password_secret_key:
        raise validation.ComponentArgumentError("external password_secret_key must not be empty")


def _validate_in_cluster(args: RedisSessionStoreArgs) -> None:
    if args.image is None:
        raise validation.ComponentArgumentError(
            "in-cluster mode needs `image`, the Redis image pinned by digest (e.g. "
            "'registry.example.org/mirror/redis:7.4.2@sha256:...'), or use `external`")
    validation.image(args.image, "Redis image")
    if args.password is None:
        raise validation.ComponentArgumentError(
            "in-cluster mode needs `password` (a Pulumi secret, e.g. config.require_secret('redisPassword')), "
            "or use `external` to wire an existing Redis")
    if isinstance(args.password, str):
        validate_password(args.password)
    validation.positive_int(args.maxmemory_mb, "maxmemory_mb")
    validation.quantity(args.data_size_limit, "data_size_limit")
    if args.resources is not None:
        args.resources.validate("resources")
    if args.single_instance_waiver is not None:
        validation.waiver_id(args.single_instance_waiver, "single_instance_waiver")
        if args.persistence is not None:
            validation.waiver_id(args.persistence.waiver_id, "persistence.waiver_id")
            validation.quantity(args.persistence.size, "persistence.size")
        return
    if args.persistence is not None:
        raise validation.ComponentArgumentError(
            "persistence is for the single-instance mode: the replicated mode keeps sessions on the "
            "replicas, and a volume per Redis pod would need a StatefulSet")
    _validate_high_availability(args.high_availability)


def _validate_high_availability(ha: HighAvailability) -> None:
    if not isinstance(ha, HighAvailability):
        raise validation.ComponentArgumentError("high_availability must be a HighAvailability")
    validation.positive_int(ha.redis_replicas, "high_availability.redis_replicas", minimum=2)
    validation.positive_int(ha.sentinels, "high_availability.sentinels", minimum=3)
    if ha.sentinels % 2 == 0:
        raise validation.ComponentArgumentError(
            f"high_availability.sentinels {ha.sentinels} must be odd: an even number adds a Sentinel "
            "without letting the set survive the loss of one more")
    validation.positive_int(ha.down_after_ms, "high_availability.down_after_ms", minimum=1000)
    validation.positive_int(ha.failover_timeout_ms, "high_availability.failover_timeout_ms", minimum=1000)
    validation.positive_int(ha.bootstrap_seconds, "high_availability.bootstrap_seconds", minimum=10)
    ha.sentinel_resources.validate("high_availability.sentinel_resources")
