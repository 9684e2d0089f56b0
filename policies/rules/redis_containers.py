"""Which containers run a Redis server: by what they run and where they listen, not only by image name.

A container runs Redis (True / False / UNKNOWN during preview) when any of these holds:
- a word of its command or args (shell strings split into words) is a Redis server program
  (`redis-server`, `redis-sentinel`, and the Redis-compatible servers: Valkey's `valkey-server`,
  `valkey-sentinel`, KeyDB's `keydb-server`, `keydb-sentinel`, Dragonfly's `dragonfly`; with any
  directory), except as the value of a host option (`redis-cli -h redis-server` is a client);
- it declares containerPort 6379, unless its image is a TCP proxy (HAProxy) that hands clients
  through to a Redis that authenticates them itself;
- its image is a Redis image and it keeps the image's own command (no `command`: the image starts the
  server, `args` are its options). With a `command` of its own (`redis-cli`, a shell script) the
  image's entrypoint does not run, so the image name alone proves nothing.
An exporter or client (its own image, port 9121, `redis://...:6379` in env) is none of these.
"""
from __future__ import annotations

from typing import Any

from stateless_pack.policies.manifest import UNKNOWN, get, sequence
from stateless_pack.policies.rules.command_line import command_words

REDIS_PORT = 6379
# Image repositories (last path segment, tag and digest removed) that run a Redis-protocol server:
# Redis, and the servers that speak its protocol in its place (Valkey, KeyDB `eqalpha/keydb`,
# Dragonfly `dragonflydb/dragonfly`).
REDIS_IMAGES = frozenset({"redis", "redis-stack", "redis-stack-server", "redis-sentinel", "redis-cluster",
                          "valkey", "valkey-sentinel", "valkey-cluster", "keydb", "dragonfly"})
REDIS_SERVERS = frozenset({"redis-server", "redis-sentinel", "valkey-server", "valkey-sentinel",
                           "keydb-server", "keydb-sentinel", "dragonfly"})
# The env variables these images read a password from (Bitnami's images; Dragonfly reads every flag
# from DFLY_<flag>): a container that sets one to a value requires a password.
PASSWORD_ENV = frozenset({"REDIS_PASSWORD", "VALKEY_PASSWORD", "DFLY_requirepass"})
TCP_PROXY_IMAGES = frozenset({"haproxy"})
_HOST_OPTIONS = frozenset({"-h", "--host", "--hostname"})


def image_repository(image: Any) -> str:
    """'docker.io/bitnami/redis:7.2@sha256:..' -> 'redis'."""
    if not isinstance(image, str):
        return ""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def _by_command(container) -> tuple[Any, str]:
    words = [token for _, token in command_words(container)]
    for i, word in enumerate(words):
        if isinstance(word, str) and word.rsplit("/", 1)[-1] in REDIS_SERVERS:
            if i == 0 or words[i - 1] not in _HOST_OPTIONS:
                return True, f"runs {word.rsplit('/', 1)[-1]}"
    return (UNKNOWN if any(w is UNKNOWN for w in words) else False), ""


def _by_port(container, image) -> tuple[Any, str]:
    ports = get(container, "ports")
    found = UNKNOWN if ports is UNKNOWN else False
    for port in sequence(ports):
        number = get(port, "containerPort")
        if number is UNKNOWN or port is UNKNOWN:
            found = UNKNOWN
        elif number == REDIS_PORT or number == str(REDIS_PORT):
            found = True
            break
    if found is False:
        return False, ""
    if image is UNKNOWN:
        return UNKNOWN, ""
    if image_repository(image) in TCP_PROXY_IMAGES:
        return False, ""
    return found, (f"listens on port {REDIS_PORT}" if found is True else "")


def _by_image(container, image) -> tuple[Any, str]:
    if image is not UNKNOWN and image_repository(image) not in REDIS_IMAGES:
        return False, ""
    command = get(container, "command")
    if command is UNKNOWN or image is UNKNOWN:
        return (UNKNOWN if command is UNKNOWN or not sequence(command) else False), ""
    return (not sequence(command)), f"image {image}"


def runs_redis(container) -> tuple[Any, str]:
    """(True / False / UNKNOWN, how it was recognised) for one container."""
    image = get(container, "image")
    results = [_by_command(container), _by_port(container, image), _by_image(container, image)]
    for found, how in results:
        if found is True:
            return True, how
    return (UNKNOWN if any(found is UNKNOWN for found, _ in results) else False), ""
