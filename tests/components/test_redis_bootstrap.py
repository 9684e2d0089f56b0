"""The replicated store's pods, run for real: the Deployments the component renders, each pod a
redis-server or redis-sentinel process started by its own bootstrap script, on loopback.

Pods have no stable identity, so these check the bootstrap design of components/redis_bootstrap.py:
a new set seeds exactly one master, every other pod replicates it, a lost master is replaced by a
Sentinel failover with the sessions kept, and a restarted master never comes back empty as master.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pulumi
import pytest
import redis

from stateless_pack.components import RedisSessionStore, RedisSessionStoreArgs
from stateless_pack.components.redis_bootstrap import scripts
from support.local_pods import materialize
from support.mocks import run
from support.processes import Processes, loopback_block, wait_for
from support.redis_set import FAILOVER_TIMEOUT, RedisSet, require_redis_binaries

PASSWORD = "bootstrap-test-password-0123456789"
IMAGE = "registry.example.org/mirror/redis:7.4.2@sha256:" + "a" * 64


@pytest.fixture
def redis_set():
    require_redis_binaries()
    rendered = run(lambda: RedisSessionStore("sessions", RedisSessionStoreArgs(
        namespace="shop", image=IMAGE, password=pulumi.Output.secret(PASSWORD))))
    manifests = [r.manifest for r in rendered.resources if r.custom and r.type.startswith("kubernetes:")]
    root = Path(tempfile.mkdtemp(prefix="redis-set-"))
    (root / "logs").mkdir()
    processes = Processes(root / "logs")
    try:
        yield RedisSet("sessions", manifests, processes, root, loopback_block())
    finally:
        processes.stop_all()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(scripts()))
def test_the_scripts_pass_shellcheck(name):
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is missing in CI: `make setup` installs it (Debian package shellcheck)")
        pytest.skip("shellcheck is not installed (run `make setup`)")
    proc = subprocess.run(["shellcheck", "--shell=sh", "-"], input=scripts()[name], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def ready(redis_set: RedisSet, kind: str, ip: str) -> bool:
    """The pod's own readiness probe (its exec command from the manifest), run against it."""
    deployment = redis_set._deployment(kind)
    container = materialize(deployment, redis_set.objects, redis_set.root / f"probe-{kind}-{ip}", ip,
                            redis_set.overrides())
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    argv = [container.local(word) for word in probe]
    return subprocess.run(argv, env=container.env, capture_output=True, timeout=10).returncode == 0


def test_a_new_set_seeds_one_master_that_every_other_pod_replicates(redis_set):
    redis_set.start_all()
    master = redis_set.wait_healthy()
    assert master == sorted(redis_set.redis_ips)[0]  # the first address seeds; all agree on it
    assert [redis_set.role(ip) for ip in redis_set.redis_ips] == ["master", "slave", "slave"]
    assert redis_set.password == PASSWORD
    with pytest.raises(redis.AuthenticationError):
        redis_set.redis(master, password=None).get("session:0")
    with pytest.raises(redis.AuthenticationError):
        redis_set.sentinel(redis_set.sentinel_ips[0], password=None).sentinel_get_master_addr_by_name("sessions")
    for kind, ips in (("redis", redis_set.redis_ips), ("sentinel", redis_set.sentinel_ips)):
        assert all(ready(redis_set, kind, ip) for ip in ips), redis_set.processes.logs()


def test_a_lost_master_fails_over_keeps_the_sessions_and_comes_back_as_a_replica(redis_set):
    redis_set.start_all()
    old = redis_set.wait_healthy()
    sessions = {f"session:{i}": f"user-{i}" for i in range(50)}
    redis_set.redis(old).mset(sessions)
    redis_set.wait_healthy()  # replicas acknowledged every write

    redis_set.kill("redis", old)
    replicas = [ip for ip in redis_set.redis_ips if ip != old]
    # a replica cut off from its master is not ready: it may hold stale sessions
    wait_for(lambda: not any(ready(redis_set, "redis", ip) for ip in replicas), 10, "replicas to turn unready")
    # the container restarts at once with the same address and an empty dataset: it must wait
    redis_set.start("redis", old, generation=1)
    new = wait_for(lambda: next(iter(redis_set.named_masters() - {(old, redis_set.redis_port)}), None),
                   FAILOVER_TIMEOUT, "the Sentinels' failover", diagnostics=redis_set.processes.logs)[0]
    assert new in replicas
    master = redis_set.wait_healthy()
    assert master == new and redis_set.role(old) == "slave"
    for ip in redis_set.redis_ips:
        assert redis_set.redis(ip).mget(list(sessions)) == list(sessions.values()), ip
    assert "still name this pod" in redis_set.processes.log(f"redis-{old}")


def test_replaced_pods_join_the_running_set_and_the_old_sentinel_is_forgotten(redis_set):
    redis_set.start_all()
    master = redis_set.wait_healthy()
    redis_set.redis(master).set("session:before", "kept")
    # a replacement Redis pod (a new address, as after a node drain) replicates the named master
    newcomer = f"{redis_set.block}.99"
    redis_set.start("redis", newcomer)
    wait_for(lambda: redis_set.role(newcomer) == "slave" and redis_set.redis(newcomer).get("session:before"),
             20, "the new pod to replicate the master", diagnostics=redis_set.processes.logs)
    assert redis_set.redis(master).info("replication")["connected_slaves"] == 3

    # a replaced Sentinel: the others must forget the old address, or it counts towards the majority
    gone = redis_set.sentinel_ips[-1]
    redis_set.kill("sentinel", gone)
    replacement = f"{redis_set.block}.59"
    redis_set.start("sentinel", replacement)
    live = [*redis_set.sentinel_ips[:-1], replacement]

    def everyone_knows_just_the_live_ones():
        return all({peer["ip"] for peer in redis_set.sentinel(ip).sentinel_sentinels("sessions")} == set(live) - {ip}
                   for ip in live)

    wait_for(everyone_knows_just_the_live_ones, 30, "the stale Sentinel to be forgotten",
             diagnostics=redis_set.processes.logs)
