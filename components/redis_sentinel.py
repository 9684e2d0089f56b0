"""The session store's replicated mode: Redis replication watched by Sentinel, no disk, no waiver.

Sessions are disposable, so copies on other pods, not volumes, keep them: `redis_replicas` Redis
pods (one master, the rest its replicas) and `sentinels` Sentinel pods, both plain Deployments
with a bounded emptyDir (no StatefulSet, no PersistentVolumeClaim). When the master is lost, the
Sentinels agree (quorum: a majority), promote a replica, and tell clients the new address; the
sessions written before are on that replica.

What it builds (store "sessions"):
- Secret `sessions-auth`: the password, redis.conf (components/redis_config.py, replication on)
  and sentinel.conf (components/sentinel_config.py). Redis and Sentinel both require the password;
  replicas and Sentinels authenticate with it too.
- ConfigMap `sessions-bootstrap`: the start and readiness scripts (components/redis_bootstrap.py).
  A Deployment's pods have no stable identity, so each pod finds its role at start: replicate the
  master the Sentinels name, or seed a new set (the first address of the full set, in sorted order).
  Each announces its pod IP (downward API); Sentinel is the only authority once the set runs.
- Deployments `sessions-redis` and `sessions-sentinel`: required pod anti-affinity on
  `kubernetes.io/hostname` (one copy of the sessions, one Sentinel per node: losing a node loses
  one of each), rolling updates one pod at a time without surge (a surge pod could not be placed),
  readiness that tells the roles apart (the master when it is one; a replica once synced; a
  Sentinel once it knows the master), a startup probe that gives the bootstrap its time.
- PodDisruptionBudgets: one pod of each kind at a time.
- Services: `sessions-sentinel` (ClusterIP, what apps ask), and headless `sessions-redis-peers` /
  `sessions-sentinel-peers` that list pods before they are ready (how starting pods find each other).
- NetworkPolicies: clients (pods with the store's client label) reach Redis and Sentinel; the set's
  pods reach each other on their ports and DNS; nothing else in or out.

Apps get REDIS_SENTINELS (host:port of the Sentinel Service) and REDIS_MASTER_NAME, and no
REDIS_HOST: a client that is not Sentinel-aware must fail loudly rather than write to a replica.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import redis_bootstrap as bootstrap
from stateless_pack.components.pod_hardening import Resources, scratch_volume
from stateless_pack.components.redis_config import RedisConfig, render as render_redis
from stateless_pack.components.redis_pods import (CONFIG_PATH, DATA_PATH, auth_secret, container, disruption_budget,
                                                  labels_of, metadata, network_policy, pod_spec, secret_volume,
                                                  selector_of, tcp_port)
from stateless_pack.components.sentinel_config import SENTINEL_PORT, SentinelConfig, render as render_sentinel
from stateless_pack.components.session_store_args import PASSWORD_KEY, REDIS_PORT, RedisSessionStoreArgs

SCRIPTS_PATH = "/opt/stateless-pack"
REDIS_CONF = "redis.conf"
SENTINEL_CONF = "sentinel.conf"
SENTINEL_DATA_LIMIT = "16Mi"


def sentinel_host(name: str, namespace: str) -> str:
    return f"{name}-sentinel.{namespace}.svc.cluster.local"


def build(name: str, args: RedisSessionStoreArgs, client_labels: dict,
          opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
    """Every object of the replicated set; returns the password's Secret."""
    ns = args.namespace
    redis_labels = labels_of(name, "redis", args.labels)
    sentinel_labels = labels_of(name, "redis-sentinel", args.labels)
    secret = auth_secret(f"{name}-auth", ns, redis_labels, _config_files(name, args), opts)
    scripts = k8s.core.v1.ConfigMap(
        f"{name}-bootstrap", opts=opts, metadata=metadata(f"{name}-bootstrap", ns, redis_labels),
        data=bootstrap.scripts())
    env = _bootstrap_env(name, args)
    ha = args.high_availability
    _deployment(f"{name}-redis", ns, redis_labels, ha.redis_replicas, opts, _member(
        "redis", args.image, args.redis_resources(), REDIS_PORT, env,
        start=bootstrap.REDIS_START, ready=bootstrap.REDIS_READY, conf=REDIS_CONF,
        startup_seconds=ha.bootstrap_seconds), [
        secret_volume("config", secret.metadata.name, [REDIS_CONF, PASSWORD_KEY]),
        _scripts_volume(scripts), scratch_volume("data", args.data_size_limit)])
    _deployment(f"{name}-sentinel", ns, sentinel_labels, ha.sentinels, opts, _member(
        "sentinel", args.image, ha.sentinel_resources, SENTINEL_PORT, env,
        start=bootstrap.SENTINEL_START, ready=bootstrap.SENTINEL_READY, conf=SENTINEL_CONF,
        startup_seconds=ha.bootstrap_seconds), [
        secret_volume("config", secret.metadata.name, [SENTINEL_CONF, PASSWORD_KEY]),
        _scripts_volume(scripts), scratch_volume("data", SENTINEL_DATA_LIMIT)])
    _services(name, ns, redis_labels, sentinel_labels, opts)
    _network_policies(ns, redis_labels, sentinel_labels, client_labels, opts)
    return secret


def _config_files(name: str, args: RedisSessionStoreArgs) -> dict:
    password = pulumi.Output.secret(args.password)  # secret even if a plain string was passed
    ha = args.high_availability
    redis_conf = password.apply(lambda pw: render_redis(RedisConfig(
        password=pw, maxmemory_mb=args.maxmemory_mb, maxmemory_policy=args.maxmemory_policy,
        port=REDIS_PORT, data_dir=None, replication=True)))  # dir: the start script's DATA_DIR
    sentinel_conf = password.apply(lambda pw: render_sentinel(SentinelConfig(
        master_name=name, password=pw, quorum=ha.quorum, down_after_ms=ha.down_after_ms,
        failover_timeout_ms=ha.failover_timeout_ms, data_dir=None)))
    return {PASSWORD_KEY: password, REDIS_CONF: redis_conf, SENTINEL_CONF: sentinel_conf}


def _bootstrap_env(name: str, args: RedisSessionStoreArgs) -> list:
    """What the scripts read (redis_bootstrap.BOOTSTRAP_ENV): this pod's IP and how to find the others."""
    ns, ha = args.namespace, args.high_availability
    values = {"REDIS_PORT": str(REDIS_PORT), "SENTINEL_PORT": str(SENTINEL_PORT), "MASTER_NAME": name,
              "REDIS_PEERS": f"{name}-redis-peers.{ns}.svc.cluster.local",
              "SENTINEL_PEERS": f"{name}-sentinel-peers.{ns}.svc.cluster.local",
              "REDIS_REPLICAS": str(ha.redis_replicas), "AUTH_FILE": f"{CONFIG_PATH}/{PASSWORD_KEY}",
              "DATA_DIR": DATA_PATH, "BOOTSTRAP_SECONDS": str(ha.bootstrap_seconds)}
    env = [{"name": "POD_IP", "value_from": {"field_ref": {"field_path": "status.podIP"}}}]
    env += [{"name": key, "value": values[key]} for key in bootstrap.BOOTSTRAP_ENV if key != "POD_IP"]
    return env


def _member(kind: str, image: str, resources: Resources, port: int, env: list, *, start: str, ready: str,
            conf: str, startup_seconds: int) -> dict:
    """The container of a Redis or Sentinel pod: its start script, probes and mounts."""
    return container(
        kind, image, resources, env=env,
        command=["sh", f"{SCRIPTS_PATH}/{start}", f"{CONFIG_PATH}/{conf}"],
        ports=[{"container_port": port, "name": kind}],  # named like the container: the probes use it
        readiness_probe={"exec": {"command": ["sh", f"{SCRIPTS_PATH}/{ready}"]},
                         "period_seconds": 5, "timeout_seconds": 4},
        # the bootstrap may wait for its peers: no liveness verdict before it has had its time
        startup_probe={"tcp_socket": {"port": kind}, "period_seconds": 5,
                       "failure_threshold": startup_seconds // 5 + 2},
        liveness_probe={"tcp_socket": {"port": kind}, "period_seconds": 10},
        volume_mounts=[{"name": "config", "mount_path": CONFIG_PATH, "read_only": True},
                       {"name": "scripts", "mount_path": SCRIPTS_PATH, "read_only": True},
                       {"name": "data", "mount_path": DATA_PATH}])


def _scripts_volume(scripts: k8s.core.v1.ConfigMap) -> dict:
    return {"name": "scripts", "config_map": {"name": scripts.metadata.name, "default_mode": 0o444}}


def _deployment(name: str, ns: str, labels: dict, replicas: int, opts: pulumi.ResourceOptions,
                member: dict, volumes: list) -> k8s.apps.v1.Deployment:
    selector = selector_of(labels)
    anti_affinity = {"pod_anti_affinity": {"required_during_scheduling_ignored_during_execution": [
        {"label_selector": {"match_labels": selector}, "topology_key": "kubernetes.io/hostname"}]}}
    deployment = k8s.apps.v1.Deployment(
        name, opts=opts, metadata=metadata(name, ns, labels),
        spec={"replicas": replicas,
              # one pod at a time and no surge: with one pod per node a surge pod has no node to go to
              "strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": 1, "max_surge": 0}},
              "selector": {"match_labels": selector},
              "template": {"metadata": {"labels": labels},
                           "spec": pod_spec([member], volumes, affinity=anti_affinity)}})
    disruption_budget(name, ns, labels, opts)
    return deployment


def _services(name: str, ns: str, redis_labels: dict, sentinel_labels: dict, opts: pulumi.ResourceOptions) -> None:
    k8s.core.v1.Service(
        f"{name}-sentinel", opts=opts, metadata=metadata(f"{name}-sentinel", ns, sentinel_labels),
        spec={"type": "ClusterIP", "session_affinity": "None", "selector": selector_of(sentinel_labels),
              "ports": [{"name": "sentinel", "port": SENTINEL_PORT, "target_port": "sentinel"}]})
    for peers, labels, port, port_name in ((f"{name}-redis-peers", redis_labels, REDIS_PORT, "redis"),
                                           (f"{name}-sentinel-peers", sentinel_labels, SENTINEL_PORT, "sentinel")):
        k8s.core.v1.Service(
            peers, opts=opts, metadata=metadata(peers, ns, labels),
            spec={"cluster_ip": "None", "publish_not_ready_addresses": True, "selector": selector_of(labels),
                  "ports": [{"name": port_name, "port": port, "target_port": port_name}]})


def _network_policies(ns: str, redis_labels: dict, sentinel_labels: dict, client_labels: dict,
                      opts: pulumi.ResourceOptions) -> None:
    clients = {"pod_selector": {"match_labels": client_labels}}
    redis_pods = {"pod_selector": {"match_labels": selector_of(redis_labels)}}
    sentinel_pods = {"pod_selector": {"match_labels": selector_of(sentinel_labels)}}
    to_redis = {"to": [redis_pods], "ports": [tcp_port(REDIS_PORT)]}
    to_sentinels = {"to": [sentinel_pods], "ports": [tcp_port(SENTINEL_PORT)]}
    dns = {"ports": [{"protocol": "UDP", "port": 53}, tcp_port(53)]}  # the headless Services' names
    network_policy(
        redis_labels["app.kubernetes.io/instance"] + "-redis", ns, redis_labels, opts=opts,
        ingress=[{"from": [clients, redis_pods, sentinel_pods], "ports": [tcp_port(REDIS_PORT)]}],
        egress=[to_redis, to_sentinels, dns])
    network_policy(
        sentinel_labels["app.kubernetes.io/instance"] + "-sentinel", ns, sentinel_labels, opts=opts,
        ingress=[{"from": [clients, redis_pods, sentinel_pods], "ports": [tcp_port(SENTINEL_PORT)]}],
        egress=[to_redis, to_sentinels, dns])
