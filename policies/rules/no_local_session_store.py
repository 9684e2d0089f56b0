"""Rule no-local-session-store: no server-local session store set in a workload's literal env or command line."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, command_line, containers, dotted, env_entries, get, pod_unknowns,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.command_line import command_words, java_properties, long_options, shell_assignments
from stateless_pack.policies.rules.session_settings import SPRING_JSON, Setting, local_stores, relaxed, stores_for


def _literal_env(container_path, container) -> Iterator[tuple[str, Setting]]:
    """(name, Setting) of the container's literal env values, in order; an entry whose name is unknown
    during preview comes as ("", Setting(UNKNOWN, path))."""
    for rel, entry in env_entries(container):
        path = dotted(container_path + rel)
        if entry is UNKNOWN or get(entry, "name") is UNKNOWN:
            yield "", Setting(UNKNOWN, path)
            continue
        name = get(entry, "name")
        if isinstance(name, str) and isinstance(entry, dict) and "value" in entry:
            yield name, Setting(entry["value"], f"{path}.value")


def _php_options(tokens) -> Iterator[tuple[tuple, str, str]]:
    """(path, directive, value) of PHP's `-d directive=value` / `-ddirective=value` ini options."""
    for i, (rel, token) in enumerate(tokens):
        if token == "-d" and i + 1 < len(tokens):
            rel, token = tokens[i + 1]
        elif isinstance(token, str) and token.startswith("-d"):
            token = token[2:]
        else:
            continue
        if isinstance(token, str) and "." in token.split("=", 1)[0] and "=" in token:
            yield rel, *token.split("=", 1)


def _command_line_settings(cpath, container) -> Iterator[tuple[str, Setting]]:
    """(name, Setting) of every session setting the command line sets: shell assignments, JVM
    properties, Spring Boot's `--property=value` options and PHP's `-d` ini options."""
    tokens = list(command_words(container))
    found = [(rel, name, value, name) for rel, name, value in shell_assignments(container)]
    found += [(rel, key, value, f"-D{key}") for rel, key, value in java_properties(tokens)]
    found += [(rel, name, value, f"--{name}") for rel, name, value, attached in long_options(tokens)
              if attached and (stores_for(name) or relaxed(name) == relaxed(SPRING_JSON))]
    found += [(rel, name, value, f"-d {name}") for rel, name, value in _php_options(tokens)]
    for rel, name, value, label in found:
        yield name, Setting(value, dotted(cpath + rel), label=label)


def _local_session_store(manifest, _cfg):
    for path in pod_unknowns(manifest):
        yield Violation(dotted(path), "containers are unknown during preview: cannot check their "
                        "session store settings", unknown=True)
    for cpath, container in containers(manifest):
        env = {}
        for name, setting in _literal_env(cpath, container):
            if not name:
                yield Violation(setting.path, "env is unknown during preview: cannot check the session store",
                                unknown=True)
            else:
                env[name] = setting
        for store in local_stores(env):
            yield Violation(store.path, f"env {store.message}", unknown=store.unknown)
        for rel, item in command_line(container):
            if item is UNKNOWN:  # any word may set a store (`SESSION_DRIVER=file`, `-d ...`, `--...`)
                yield Violation(dotted(cpath + rel), "the command line is unknown during preview: cannot check "
                                "the session settings it may set", unknown=True)
        for name, setting in _command_line_settings(cpath, container):
            for store in local_stores({name: setting}):
                yield Violation(store.path, f"command line {store.message}", unknown=store.unknown)


RULE = Rule(
    name="no-local-session-store",
    checkov_id="CKV_STL_3",
    category="sessions",
    description=(
        "No server-local session store configured in a container's literal env values (`env[].value`) "
        "or on its command line, in every container, init container and native sidecar (values from "
        "ConfigMaps and Secrets and framework config files are judged by no-local-session-config, "
        "settings baked into the image are not visible). The command line: shell assignments in a "
        "`sh -c` script (`export NAME=value`, `NAME=value cmd`) and after the `env` program, JVM "
        "properties (`-Dkey=value`), Spring Boot options (`--key=value`), PHP's `-d directive=value`. "
        "Values that carry settings are read too: JVM properties in `JAVA_TOOL_OPTIONS`, "
        "`JDK_JAVA_OPTIONS`, `_JAVA_OPTIONS`, `JAVA_OPTS`, `CATALINA_OPTS`, and the keys of "
        "`SPRING_APPLICATION_JSON` (nested or flat). Detected (values case-insensitive): Django "
        "`SESSION_ENGINE=django.contrib.sessions.backends.file`, or `...backends.cache` together with "
        "`CACHE_BACKEND` / `DJANGO_CACHE_BACKEND` = `django.core.cache.backends.locmem.LocMemCache` or "
        "`...filebased.FileBasedCache` (`db`, `cached_db` and `signed_cookies` pass); Flask-Session "
        "`SESSION_TYPE` = `filesystem` or `cachelib`; Laravel `SESSION_DRIVER` = `file`, `array` or "
        "`apc`; PHP `PHP_SESSION_SAVE_HANDLER` / `SESSION_SAVE_HANDLER` / `session.save_handler` = "
        "`files`; Spring `spring.session.store-type=none` or `server.servlet.session.persistent=true` "
        "in any relaxed form (`SPRING_SESSION_STORE_TYPE`, `spring.session.storeType`); express-session "
        "`SESSION_STORE` = `memory` or `MemoryStore`. During preview an unknown command line item is "
        "reported as cannot be verified: any word may set a store."
    ),
    remediation="Point the framework's session store at the shared Redis session store (e.g. Django "
                "`django.contrib.sessions.backends.cache` with a Redis cache, Flask-Session `redis`, "
                "Laravel `redis`, PHP `redis`, Spring Session `redis`, express `connect-redis`), or use "
                "signed client-side cookies.",
    kinds=WORKLOAD_KINDS,
    check=_local_session_store,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
