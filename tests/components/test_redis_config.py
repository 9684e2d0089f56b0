"""The generated redis.conf, loaded by a real redis-server on a loopback port."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import replace

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from stateless_pack.components.redis_config import DISABLED_COMMANDS, RedisConfig, render
from stateless_pack.components.validation import ComponentArgumentError

PASSWORD = "test-only-password-0123456789"


def _client(port: int, password: str | None = None) -> redis.Redis:
    # no retries: redis-py retries connection errors (AuthenticationError is one) with backoff
    return redis.Redis(host="127.0.0.1", port=port, password=password, retry=Retry(NoBackoff(), 0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing in CI: `make setup` installs it (Debian package redis-server)")
        pytest.skip("redis-server is not installed (run `make setup`)")

    def start(config: RedisConfig):
        port = _free_port()
        config = replace(config, port=port, bind="127.0.0.1", data_dir=str(tmp_path))
        conf = tmp_path / "redis.conf"
        conf.write_text(render(config), encoding="utf-8")
        proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"redis-server refused the config:\n{proc.stdout.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start listening within 10s")

    started: list = []
    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


def test_unauthenticated_commands_are_refused(redis_server):
    port = redis_server(RedisConfig(password=PASSWORD))
    anonymous = _client(port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.set("session:1", "x")
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("session:1")


def test_wrong_password_is_refused(redis_server):
    port = redis_server(RedisConfig(password=PASSWORD))
    with pytest.raises(redis.AuthenticationError):
        _client(port, PASSWORD + "x").ping()


def test_authenticated_commands_work(redis_server):
    port = redis_server(RedisConfig(password=PASSWORD))
    client = _client(port, PASSWORD)
    client.set("session:abc", "user=42", ex=60)
    assert client.get("session:abc") == b"user=42"
    assert 0 < client.ttl("session:abc") <= 60


def test_password_with_quotes_and_backslashes_round_trips(redis_server):
    tricky = 'p"a\\ss word with spaces#1'
    port = redis_server(RedisConfig(password=tricky))
    assert _client(port, tricky).ping() is True


@pytest.mark.parametrize("command", DISABLED_COMMANDS)
def test_dangerous_commands_are_disabled(redis_server, command):
    port = redis_server(RedisConfig(password=PASSWORD))
    client = _client(port, PASSWORD)
    args = {"CONFIG": ("CONFIG", "GET", "maxmemory"), "KEYS": ("KEYS", "*"),
            "DEBUG": ("DEBUG", "SLEEP", "0")}.get(command, (command,))
    with pytest.raises(redis.ResponseError, match="unknown command"):
        client.execute_command(*args)


@pytest.mark.parametrize("maxmemory_mb,policy", [(192, "allkeys-lru"), (64, "volatile-lfu")])
def test_memory_policy_is_in_force(redis_server, maxmemory_mb, policy):
    port = redis_server(RedisConfig(password=PASSWORD, maxmemory_mb=maxmemory_mb, maxmemory_policy=policy))
    info = _client(port, PASSWORD).info("memory")
    assert info["maxmemory"] == maxmemory_mb * 1024 * 1024
    assert info["maxmemory_policy"] == policy


def test_full_store_evicts_instead_of_refusing_writes(redis_server):
    port = redis_server(RedisConfig(password=PASSWORD, maxmemory_mb=2))
    client = _client(port, PASSWORD)
    value = "x" * 2048
    pipe = client.pipeline(transaction=False)
    for i in range(4000):  # ~8 MB into a 2 MB store: must never raise OOM
        pipe.set(f"session:{i}", value)
    pipe.execute()  # raises if any write was refused
    assert client.info("stats")["evicted_keys"] > 0
    assert client.get("session:3999") == value.encode()  # the most recent session survives


def test_persistence_off_writes_nothing_to_disk(redis_server, tmp_path):
    port = redis_server(RedisConfig(password=PASSWORD))
    client = _client(port, PASSWORD)
    client.set("session:1", "x")
    info = client.info("persistence")
    assert info["aof_enabled"] == 0
    assert not list(tmp_path.glob("*.rdb")) and not list(tmp_path.glob("appendonly*"))


def test_persistence_on_uses_the_append_only_file(redis_server):
    port = redis_server(RedisConfig(password=PASSWORD, persistence=True))
    assert _client(port, PASSWORD).info("persistence")["aof_enabled"] == 1


@pytest.mark.parametrize("config,message", [
    (RedisConfig(password="short"), "at least 16 characters"),
    (RedisConfig(password="sixteen-chars-ok\nrequirepass x"), "control characters"),
    (RedisConfig(password=PASSWORD, maxmemory_policy="noeviction"), "must be one of"),
    (RedisConfig(password=PASSWORD, maxmemory_mb=0), "maxmemory_mb"),
    (RedisConfig(password=PASSWORD, port=70000), "Redis port"),
])
def test_invalid_settings_are_rejected(config, message):
    with pytest.raises(ComponentArgumentError, match=message):
        render(config)


def test_rendered_defaults():
    text = render(RedisConfig(password=PASSWORD)).splitlines()
    assert "protected-mode yes" in text
    assert f'requirepass "{PASSWORD}"' in text
    assert 'save ""' in text and "appendonly no" in text
    assert "maxmemory-policy allkeys-lru" in text


def test_replicated_config_authenticates_replicas_and_keeps_what_sentinel_needs():
    text = render(RedisConfig(password=PASSWORD, replication=True, data_dir=None)).splitlines()
    assert f'masterauth "{PASSWORD}"' in text and "min-replicas-to-write 1" in text
    assert "repl-diskless-load on-empty-db" in text and "repl-diskless-sync yes" in text
    assert 'rename-command CONFIG ""' not in text and 'rename-command FLUSHALL ""' in text
    assert not any(line.startswith("dir ") for line in text)  # the start script sets it


def test_a_replicated_config_cannot_disable_what_a_failover_runs():
    # Sentinel sends MULTI, SLAVEOF, CONFIG REWRITE, EXEC: one unknown command aborts the failover
    with pytest.raises(ComponentArgumentError, match="cannot disable CONFIG"):
        render(RedisConfig(password=PASSWORD, replication=True, disabled_commands=DISABLED_COMMANDS))


def test_a_replica_from_the_generated_config_syncs_and_unblocks_its_master(redis_server):
    config = RedisConfig(password=PASSWORD, replication=True)
    master, replica = redis_server(config), redis_server(config)
    writer = _client(master, PASSWORD)
    with pytest.raises(redis.ResponseError, match="NOREPLICAS"):  # nobody would keep a copy
        writer.set("session:1", "alice")
    _client(replica, PASSWORD).execute_command("REPLICAOF", "127.0.0.1", master)  # what Sentinel sends
    deadline = time.monotonic() + 10
    while writer.info("replication")["connected_slaves"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.1)  # the replica acknowledges its offset once a second; min-replicas counts acks
    writer.set("session:1", "alice")
    writer.execute_command("WAIT", 1, 5000)
    assert _client(replica, PASSWORD).get("session:1") == b"alice"
