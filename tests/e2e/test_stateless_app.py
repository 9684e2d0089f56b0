"""The paved road, end to end: the sample app on the reference stack's contract, for real, on loopback.

The reference stack runs under the gate's mocks (`run_program`, then the gate's render), and
everything the processes get comes from those manifests (support/local_pods.py): the session
store's pods (bootstrap scripts, redis.conf and sentinel.conf from its Secret: three redis-server,
three redis-sentinel), and the web Deployment's env and mounted files (REDIS_SENTINELS,
REDIS_MASTER_NAME, REDIS_PASSWORD_FILE, UPLOADS_* and UPLOADS_S3_KEYS_DIR). What the cluster would
add from outside the manifests, the test supplies: DNS answers (loopback addresses, free ports) and
what the bucket provisioner creates (moto's S3 server, a bucket, its ConfigMap and key Secret).
Two app processes answer a round-robin client that shares one cookie jar, like a load balancer
without affinity.
"""
from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from stateless_pack.gate.program.runner import run_program
from stateless_pack.gate.render import manifests as render
from support.local_pods import materialize
from support.paths import REPO
from support.processes import Processes, free_port, loopback_block, wait_for
from support.redis_set import FAILOVER_TIMEOUT, RedisSet, require_redis_binaries

APP = REPO / "examples" / "sample-app" / "app.py"
STORE = "sessions"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "E2EACCESSKEY", "AWS_SECRET_ACCESS_KEY": "e2e-secret-key-not-a-real-one"}


@pytest.fixture(scope="module")
def manifests():
    require_redis_binaries()
    program = run_program(REPO, stack="dev")
    return [item.revealed() for item in render.manifests(program.resources)]


def _one(manifests, kind, name) -> dict:
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


@dataclass
class Platform:
    """What the app runs against: the replicated session store and an S3 server with its bucket."""

    sessions: RedisSet
    processes: Processes
    root: Path
    s3_url: str
    bucket: str

    def s3(self):
        return boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1",
                            aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
                            config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="module")
def platform(manifests):
    root = Path(tempfile.mkdtemp(prefix="stateless-e2e-"))
    (root / "logs").mkdir()
    processes = Processes(root / "logs")
    try:
        sessions = RedisSet(STORE, manifests, processes, root, loopback_block())
        sessions.start_all()
        port = free_port()
        processes.start("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                        {"PATH": os.environ["PATH"], "HOME": str(root)}, cwd=root)
        claim = _one(manifests, "ObjectBucketClaim", "uploads")
        platform = Platform(sessions, processes, root, f"http://127.0.0.1:{port}",
                            f"{claim['spec']['generateBucketName']}-{secrets.token_hex(4)}")
        wait_for(lambda: platform.s3().list_buckets(), 30, "moto's S3 server", diagnostics=processes.logs)
        _provision_bucket(platform, claim, port)
        sessions.wait_healthy()
        yield platform
    finally:
        processes.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def _provision_bucket(platform: Platform, claim: dict, port: int) -> None:
    """What the OBC provisioner does for the claim: the bucket, a ConfigMap and a Secret named after it."""
    platform.s3().create_bucket(Bucket=platform.bucket)
    name = claim["metadata"]["name"]
    objects = platform.sessions.objects
    objects.add("ConfigMap", name, {"BUCKET_HOST": "127.0.0.1", "BUCKET_PORT": str(port),
                                    "BUCKET_NAME": platform.bucket, "BUCKET_REGION": "us-east-1",
                                    "BUCKET_SUBREGION": ""})
    objects.add("Secret", name, S3_KEYS)


def _sentinels_behind(manifests, value: str, sessions: RedisSet) -> str:
    """REDIS_SENTINELS names the Service of the Sentinel pods: on loopback, their addresses."""
    host, _, port = value.rpartition(":")
    service_name, namespace = host.split(".")[:2]
    service = _one(manifests, "Service", service_name)["spec"]
    sentinels = _one(manifests, "Deployment", f"{STORE}-sentinel")["spec"]
    assert namespace == "shop" and service["selector"] == sentinels["selector"]["matchLabels"]
    assert [p["port"] for p in service["ports"]] == [int(port)]
    return ",".join(f"{ip}:{p}" for ip, p in sessions.sentinel_addresses())


@dataclass
class Instance:
    name: str
    url: str
    root: Path           # the pod's own files: its volumes (and its /tmp) and working directory


@pytest.fixture
def start_app(manifests, platform):
    started = []

    def start(name: str, **extra_env) -> Instance:
        web = _one(manifests, "Deployment", "web")
        env = {e["name"]: e for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
        sentinels = _objects_value(platform, env["REDIS_SENTINELS"])
        root = platform.root / f"{name}-{secrets.token_hex(3)}"
        port = free_port()
        container = materialize(web, platform.sessions.objects, root, "127.0.0.1", {
            "REDIS_SENTINELS": _sentinels_behind(manifests, sentinels, platform.sessions),
            "PORT": str(port), "BIND": "127.0.0.1", "INSTANCE_NAME": name, **extra_env})
        (root / "workdir").mkdir()
        platform.processes.start(name, [sys.executable, str(APP)], container.env, cwd=root / "workdir")
        started.append(name)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{url}/live", timeout=2).ok, 30, f"app {name}",
                 diagnostics=platform.processes.logs)
        return Instance(name, url, root)

    yield start
    for name in started:
        platform.processes.stop(name)


def _objects_value(platform: Platform, entry: dict) -> str:
    ref = entry["valueFrom"]["configMapKeyRef"]
    return platform.sessions.objects.get("ConfigMap", ref["name"])[ref["key"]]


class RoundRobin:
    """A load balancer without affinity: each request goes to the next instance that answers."""

    def __init__(self, *instances: Instance):
        self.instances = list(instances)
        self.http = requests.Session()  # one browser: one cookie jar for every instance
        self.turn = 0
        self.answered_by: list = []

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        for _ in range(len(self.instances)):
            instance = self.instances[self.turn % len(self.instances)]
            self.turn += 1
            try:
                response = self.http.request(method, instance.url + path, timeout=10, **kwargs)
            except requests.ConnectionError:
                continue  # an instance that is gone: the balancer takes it out of rotation
            self.answered_by.append(response.headers.get("X-Instance"))
            return response
        raise AssertionError("no instance answered")

    def each(self, method: str, path: str, **kwargs) -> dict:
        """One request to every instance in turn: {instance: response}."""
        answers = {}
        for _ in range(len(self.instances)):
            response = self.request(method, path, **kwargs)
            answers[response.headers["X-Instance"]] = response
        return answers


def assert_a_login_is_seen_everywhere(client: RoundRobin, user: str) -> None:
    response = client.request("POST", "/login", json={"user": user})
    assert response.status_code == 200, response.text
    seen = {name: r.json()["user"] for name, r in client.each("GET", "/me").items()}
    assert len(seen) == len(client.instances), f"not every instance answered: {seen}"
    assert set(seen.values()) == {user}, f"the session of {user!r} per instance: {seen}"


def test_a_login_on_one_instance_is_seen_on_the_other(start_app):
    a, b = start_app("web-a"), start_app("web-b")
    client = RoundRobin(a, b)
    assert_a_login_is_seen_everywhere(client, "alice")
    assert client.answered_by[0] == "web-a" and set(client.answered_by) == {"web-a", "web-b"}


def test_an_upload_lands_in_the_bucket_and_on_no_instance_disk(start_app, platform):
    a, b = start_app("web-a"), start_app("web-b")
    client = RoundRobin(a, b)
    client.request("POST", "/login", json={"user": "bob"})
    content = secrets.token_bytes(1024 * 1024)  # large enough for the web server to spool it
    response = client.request("POST", "/files", files={"file": ("report.pdf", content)})
    assert response.status_code == 201 and response.headers["X-Instance"] == "web-b", response.text
    key = response.json()["key"]
    download = client.request("GET", f"/files/{key}")
    assert download.headers["X-Instance"] == "web-a" and download.content == content
    assert platform.s3().get_object(Bucket=platform.bucket, Key=key)["Body"].read() == content
    for instance in (a, b):
        files = [p for p in instance.root.rglob("*") if p.is_file()]
        assert not [p for p in files if p.stat().st_size >= len(content) or content[:4096] in p.read_bytes()], \
            f"{instance.name} kept the upload on its disk"


def test_losing_an_instance_loses_no_session(start_app, platform):
    a, b = start_app("web-a"), start_app("web-b")
    client = RoundRobin(a, b)
    assert_a_login_is_seen_everywhere(client, "carol")
    platform.processes.kill("web-a")
    for _ in range(4):  # every request now lands on B, which has carol's session
        response = client.request("GET", "/me")
        assert (response.headers["X-Instance"], response.json()["user"]) == ("web-b", "carol")


def test_the_assertions_fail_for_an_app_with_filesystem_sessions(start_app):
    # The same app with sessions in each instance's /tmp: the test above must catch it.
    a = start_app("web-a", SESSION_BACKEND="filesystem")
    b = start_app("web-b", SESSION_BACKEND="filesystem")
    with pytest.raises(AssertionError, match="the session of 'dave' per instance"):
        assert_a_login_is_seen_everywhere(RoundRobin(a, b), "dave")


# Last in this module: it kills the session store's master for good.
def test_a_redis_master_failover_keeps_the_sessions_and_the_apps_reconnect(start_app, platform):
    a, b = start_app("web-a"), start_app("web-b")
    users = {f"user-{i}": RoundRobin(a, b) for i in range(6)}
    for user, client in users.items():
        assert_a_login_is_seen_everywhere(client, user)
    sessions = platform.sessions
    old_master = sessions.wait_healthy()  # every replica has acknowledged every session

    sessions.kill("redis", old_master)
    probe = RoundRobin(a, b)
    probe.http.cookies = users["user-0"].http.cookies
    wait_for(lambda: probe.request("GET", "/me").json().get("user") == "user-0" and
             sessions.named_masters() - {(old_master, sessions.redis_port)}, FAILOVER_TIMEOUT,
             "the failover and the apps to answer again", interval=0.5, diagnostics=sessions.processes.logs)
    (new_master, _), = sessions.named_masters()
    assert new_master != old_master
    sessions.wait_healthy(redis_ips=[ip for ip in sessions.redis_ips if ip != old_master])
    for user, client in users.items():  # written before the failover, read after it, on both instances
        seen = {name: r.json()["user"] for name, r in client.each("GET", "/me").items()}
        assert seen == {"web-a": user, "web-b": user}
    assert_a_login_is_seen_everywhere(RoundRobin(a, b), "after-failover")  # writes reach the new master
    assert all(platform.processes.started[i.name].poll() is None for i in (a, b)), "an app was restarted"
