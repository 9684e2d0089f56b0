"""The generated sentinel.conf: its text, its checks, and a real redis-sentinel that loads it.

Failover with these files (and the Redis ones) runs in test_redis_bootstrap.py.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from stateless_pack.components.sentinel_config import SentinelConfig, render
from stateless_pack.components.validation import ComponentArgumentError
from support.processes import free_port, wait_for

PASSWORD = "sentinel-test-password-0123456789"
CONFIG = SentinelConfig(master_name="sessions", password=PASSWORD)


def test_a_pod_template_holds_placeholders_for_the_master():
    text = render(CONFIG).splitlines()
    assert "sentinel monitor sessions @MASTER_HOST@ @MASTER_PORT@ 2" in text
    assert f'requirepass "{PASSWORD}"' in text
    assert f'sentinel sentinel-pass "{PASSWORD}"' in text
    assert f'sentinel auth-pass sessions "{PASSWORD}"' in text
    assert "sentinel down-after-milliseconds sessions 5000" in text


def test_the_monitor_line_must_come_before_the_master_settings():
    text = render(CONFIG, master=("10.0.0.7", 6379)).splitlines()
    monitor = text.index("sentinel monitor sessions 10.0.0.7 6379 2")
    assert all(monitor < i for i, line in enumerate(text) if line.startswith(("sentinel auth-pass",
                                                                               "sentinel down-after")))


@pytest.mark.parametrize("config,master,message", [
    (replace(CONFIG, master_name="Sessions"), None, "DNS-1123"),
    (replace(CONFIG, password="short"), None, "at least 16 characters"),
    (replace(CONFIG, quorum=0), None, "quorum"),
    (replace(CONFIG, down_after_ms=5), None, "down_after_ms"),
    (replace(CONFIG, data_dir="a\nb"), None, "single-line"),
    (CONFIG, ("10.0.0.7\nport 1", 6379), "single-line"),
    (CONFIG, ("10.0.0.7", 0), "master port"),
])
def test_invalid_settings_are_rejected(config, master, message):
    with pytest.raises(ComponentArgumentError, match=message):
        render(config, master)


@pytest.fixture
def sentinel(tmp_path):
    binary = shutil.which("redis-sentinel")
    if binary is None:
        pytest.skip("redis-sentinel is not installed (run `make setup`)")
    port = free_port()
    conf = tmp_path / "sentinel.conf"  # Sentinel rewrites its file: it must be writable
    conf.write_text(render(replace(CONFIG, port=port, bind="127.0.0.1", data_dir=str(tmp_path)),
                           master=("127.0.0.1", free_port())), encoding="utf-8")
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _client(port, password):
    return redis.Redis(host="127.0.0.1", port=port, password=password, retry=Retry(NoBackoff(), 0),
                       decode_responses=True)


def test_redis_sentinel_loads_it_and_answers_only_with_the_password(sentinel):
    address = wait_for(lambda: _client(sentinel, PASSWORD).sentinel_get_master_addr_by_name("sessions"), 10,
                       "redis-sentinel to answer")
    assert address[0] == "127.0.0.1"
    with pytest.raises(redis.AuthenticationError):
        _client(sentinel, None).sentinel_get_master_addr_by_name("sessions")
    with pytest.raises(redis.AuthenticationError):
        _client(sentinel, PASSWORD + "x").ping()
