"""A session store's replicated set (Redis + Sentinel pods) running for real on loopback.

Each pod of the rendered `<store>-redis` and `<store>-sentinel` Deployments becomes a process on an
address of its own in a private loopback /24 (pods have their own IPs), started with the pod's own
command: the bootstrap script from the store's ConfigMap, reading the config from its Secret. What
the cluster's DNS would answer (the headless peer Services) is the list of those addresses; the
ports are free ones instead of 6379/26379, since other tests may run beside this one.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from support.local_pods import Objects, materialize
from support.processes import Processes, free_port, wait_for

FAILOVER_TIMEOUT = 30.0


def require_redis_binaries() -> None:
    missing = [b for b in ("redis-server", "redis-sentinel", "redis-cli", "getent", "timeout")
               if shutil.which(b) is None]
    if missing:
        message = f"{', '.join(missing)} missing: `make setup` installs them (Debian redis-server, redis-sentinel)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def client(host: str, port: int, password: str | None) -> redis.Redis:
    # no retries: redis-py retries connection errors with back-off (seconds), which would blur every poll
    return redis.Redis(host=host, port=port, password=password, socket_timeout=2, decode_responses=True,
                       retry=Retry(NoBackoff(), 0))


@dataclass
class RedisSet:
    store: str                       # the store's name: its Deployments are <store>-redis, <store>-sentinel
    manifests: list
    processes: Processes
    root: Path
    block: str                       # '127.a.b'
    password: str = ""
    redis_ips: list = field(default_factory=list)
    sentinel_ips: list = field(default_factory=list)
    redis_port: int = 0
    sentinel_port: int = 0

    def __post_init__(self):
        self.objects = Objects(self.manifests)
        self.password = self.objects.get("Secret", f"{self.store}-auth")["password"]
        replicas = {m["metadata"]["name"]: m["spec"]["replicas"] for m in self.manifests if m["kind"] == "Deployment"}
        self.redis_ips = [f"{self.block}.{10 + i}" for i in range(replicas[f"{self.store}-redis"])]
        self.sentinel_ips = [f"{self.block}.{50 + i}" for i in range(replicas[f"{self.store}-sentinel"])]
        self.redis_port = free_port(self.redis_ips)
        self.sentinel_port = free_port(self.sentinel_ips)

    # --- pods ------------------------------------------------------------------------------------

    def _deployment(self, kind: str) -> dict:
        name = f"{self.store}-{kind}"
        return next(m for m in self.manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == name)

    def overrides(self) -> dict:
        """What DNS and the Services' ports would give the pods, on loopback."""
        return {"REDIS_PEERS": " ".join(self.redis_ips), "SENTINEL_PEERS": " ".join(self.sentinel_ips),
                "REDIS_PORT": str(self.redis_port), "SENTINEL_PORT": str(self.sentinel_port)}

    def start(self, kind: str, ip: str, generation: int = 0) -> None:
        """Start the pod of `kind` ("redis" or "sentinel") at `ip`; a new generation has fresh volumes."""
        pod_root = self.root / f"{kind}-{ip}-{generation}"
        container = materialize(self._deployment(kind), self.objects, pod_root, ip, self.overrides())
        self.processes.start(f"{kind}-{ip}", container.argv, container.env)

    def start_all(self) -> None:
        for ip in self.redis_ips:
            self.start("redis", ip)
        for ip in self.sentinel_ips:
            self.start("sentinel", ip)

    def kill(self, kind: str, ip: str) -> None:
        self.processes.kill(f"{kind}-{ip}")

    # --- asking them -----------------------------------------------------------------------------

    def redis(self, ip: str, password: str | None = "") -> redis.Redis:
        return client(ip, self.redis_port, self.password if password == "" else password)

    def sentinel(self, ip: str, password: str | None = "") -> redis.Redis:
        return client(ip, self.sentinel_port, self.password if password == "" else password)

    def sentinel_addresses(self) -> list:
        return [(ip, self.sentinel_port) for ip in self.sentinel_ips]

    def named_masters(self, sentinel_ips=None) -> set:
        """The master addresses the (answering) Sentinels name."""
        named = set()
        for ip in sentinel_ips or self.sentinel_ips:
            try:
                address = self.sentinel(ip).sentinel_get_master_addr_by_name(self.store)
            except redis.RedisError:
                continue
            if address:
                named.add((address[0], int(address[1])))
        return named

    def role(self, ip: str) -> str:
        try:
            return self.redis(ip).execute_command("ROLE")[0]
        except redis.RedisError:
            return ""

    def wait_healthy(self, redis_ips=None, sentinel_ips=None, timeout: float = 60) -> str:
        """Until one master with every other Redis as a synced replica, and every Sentinel naming it
        and knowing the others; returns the master's address."""
        redis_ips = redis_ips or self.redis_ips
        sentinel_ips = sentinel_ips or self.sentinel_ips

        def healthy():
            named = self.named_masters(sentinel_ips)
            if len(named) != 1:
                return None
            (master, port), = named
            info = self.redis(master).info("replication")
            replicas = [info[k] for k in info if k.startswith("slave") and isinstance(info[k], dict)]
            synced = [r for r in replicas if r["state"] == "online" and r["offset"] == info["master_repl_offset"]]
            if info["role"] != "master" or len(synced) != len(redis_ips) - 1:
                return None
            for ip in sentinel_ips:
                state = self.sentinel(ip).sentinel_master(self.store)
                if state["num-other-sentinels"] != len(sentinel_ips) - 1 or state["num-slaves"] < len(redis_ips) - 1:
                    return None
            return master

        return wait_for(healthy, timeout, "a healthy replicated set", interval=0.25,
                        diagnostics=self.processes.logs)
