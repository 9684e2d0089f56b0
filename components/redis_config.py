"""redis.conf for a session store: a pure function from settings to the file's text.

Choices, and why:
- `requirepass` + `protected-mode yes`: no client talks to Redis without the password.
- `maxmemory` + `maxmemory-policy allkeys-lru`: a session store is a cache of login state; when it
  is full, dropping the least recently used session (the user idle the longest signs in again)
  keeps every active user working. `volatile-lru` would only evict keys with a TTL, and a single
  session written without one would turn "full" into refused writes: nobody could sign in.
  `noeviction` has the same failure. The policy is a parameter (LRU/LFU variants only).
- `rename-command X ""` for FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS: an app with the password still
  cannot wipe every session, reconfigure the server (e.g. turn auth off) or block it with KEYS.
- persistence off (`save ""`, `appendonly no`): sessions are disposable; no volume, no state on
  disk. With persistence on (a waiver is needed for its volume) the AOF is used, fsync every second.
- `replication=True` (a member of a Sentinel-managed set, components/redis_sentinel.py): replicas
  authenticate to the master with the same password (`masterauth`); full syncs go over the socket
  both ways (`repl-diskless-sync`, `repl-diskless-load on-empty-db`), so no RDB touches the disk;
  a master that no replica acknowledges for 10 s stops taking writes (`min-replicas-to-write 1`),
  so a master cut off from the rest cannot accept sessions that the failover would then discard.
  CONFIG stays enabled there: Sentinel reconfigures Redis with `MULTI; SLAVEOF; CONFIG REWRITE;
  EXEC`, and a disabled command in that transaction aborts the whole failover.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from stateless_pack.components.validation import ComponentArgumentError, port as valid_port, positive_int

DISABLED_COMMANDS = ("FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "KEYS")
# What Sentinel sends to the Redis instances it manages (sentinel.c): none of it may be disabled.
SENTINEL_NEEDS = ("CONFIG", "SLAVEOF", "MULTI", "EXEC", "CLIENT", "INFO", "PING", "PUBLISH", "SUBSCRIBE",
                  "SCRIPT")
REPLICATED_DISABLED_COMMANDS = tuple(c for c in DISABLED_COMMANDS if c not in SENTINEL_NEEDS)
EVICTION_POLICIES = ("allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu")
MIN_PASSWORD_LENGTH = 16


@dataclass(frozen=True)
class RedisConfig:
    """Settings of the generated redis.conf."""

    password: str                     # goes into `requirepass`; the file is therefore a Secret
    maxmemory_mb: int = 192           # keep below the container memory limit (Redis needs headroom)
    maxmemory_policy: str = "allkeys-lru"
    port: int = 6379
    bind: str = "* -::*"              # all interfaces of the pod (IPv6 only if present)
    persistence: bool = False
    data_dir: Optional[str] = "/data"  # an emptyDir (or the waived PVC); None: the start script sets it
    replication: bool = False         # a member of a Sentinel-managed master/replica set
    disabled_commands: Optional[tuple] = None  # default: DISABLED_COMMANDS, or the replicated set's

    def commands_disabled(self) -> tuple:
        if self.disabled_commands is not None:
            return tuple(self.disabled_commands)
        return REPLICATED_DISABLED_COMMANDS if self.replication else DISABLED_COMMANDS


def quoted(value: str) -> str:
    """A double-quoted string of Redis' config syntax (redis.conf, sentinel.conf): \\ and " escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def validate_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ComponentArgumentError(
            f"the Redis password must be a string of at least {MIN_PASSWORD_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise ComponentArgumentError("the Redis password must not contain control characters or newlines")
    return password


def validate_single_line(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or "\n" in value or "\r" in value:
        raise ComponentArgumentError(f"{what} {value!r} must be a non-empty single-line value")
    return value


def render(config: RedisConfig) -> str:
    """The redis.conf text. Raises ComponentArgumentError for invalid settings."""
    validate_password(config.password)
    disabled = config.commands_disabled()
    if config.replication and set(disabled) & set(SENTINEL_NEEDS):
        raise ComponentArgumentError(
            f"a replicated Redis cannot disable {', '.join(sorted(set(disabled) & set(SENTINEL_NEEDS)))}: "
            "Sentinel runs them during a failover (one refused command aborts the whole reconfiguration)")
    positive_int(config.maxmemory_mb, "maxmemory_mb")
    valid_port(config.port, "Redis port")
    if config.maxmemory_policy not in EVICTION_POLICIES:
        raise ComponentArgumentError(
            f"maxmemory_policy {config.maxmemory_policy!r} must be one of {', '.join(EVICTION_POLICIES)}: "
            "a full session store must evict, not refuse writes")
    validate_single_line(config.bind, "bind")
    if config.data_dir is not None:  # Redis checks `dir` as it reads it: the folder must exist then
        validate_single_line(config.data_dir, "data_dir")
    lines = [
        "# Generated by stateless-pack components/redis_config.py: a Redis session store.",
        f"port {config.port}",
        f"bind {config.bind}",
        "protected-mode yes",
        f"requirepass {quoted(config.password)}",
        f"maxmemory {config.maxmemory_mb}mb",
        f"maxmemory-policy {config.maxmemory_policy}",
        "daemonize no",
        'logfile ""',
        "timeout 0",
        "tcp-keepalive 300",
    ]
    if config.data_dir is not None:
        lines.append(f"dir {config.data_dir}")
    if config.persistence:
        lines += ['save ""', "appendonly yes", "appendfsync everysec"]
    else:
        lines += ['save ""', "appendonly no"]
    if config.replication:
        lines += [f"masterauth {quoted(config.password)}", "replica-read-only yes",
                  "repl-diskless-sync yes", "repl-diskless-sync-delay 0", "repl-diskless-load on-empty-db",
                  "min-replicas-to-write 1", "min-replicas-max-lag 10"]
    lines += [f'rename-command {command} ""' for command in disabled]
    return "\n".join(lines) + "\n"
