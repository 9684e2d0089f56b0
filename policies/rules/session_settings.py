"""Which session settings keep session state on one pod: one table, wherever the settings come from.

The same names are judged whether a value is a literal env value, comes from a ConfigMap or Secret,
is read from a framework's config file or is set on the command line. Spring Boot's names bind
relaxed (`spring.session.store-type`, `SPRING_SESSION_STORE_TYPE`, `spring.session.storeType` are one
setting). Some values carry more settings: JVM system properties in `JAVA_TOOL_OPTIONS` (and the
other JVM option variables start scripts read) and Spring Boot's `SPRING_APPLICATION_JSON`.

`local_stores(settings)` judges a set of named settings; each finding says which settings it rests
on, so a caller can keep only the findings that involve values from ConfigMaps or Secrets.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Iterator, Mapping

from stateless_pack.policies.manifest import UNKNOWN, lower_text
from stateless_pack.policies.rules.command_line import java_properties, split_words
from stateless_pack.policies.rules.config_files import ConfigFileError, flatten

# setting name -> {value (lower case) -> what it means}: session stores that live inside one pod.
LOCAL_STORES = {
    "SESSION_ENGINE": {"django.contrib.sessions.backends.file": "Django file-based sessions"},
    "SESSION_TYPE": {"filesystem": "Flask-Session filesystem sessions",
                     "cachelib": "Flask-Session cachelib sessions (a local file cache by default)"},
    "SESSION_DRIVER": {"file": "Laravel file sessions", "array": "Laravel in-memory (array) sessions",
                       "apc": "Laravel APCu sessions (per-server memory)"},
    "PHP_SESSION_SAVE_HANDLER": {"files": "PHP `files` session save handler"},
    "SESSION_SAVE_HANDLER": {"files": "PHP `files` session save handler"},
    "session.save_handler": {"files": "PHP `files` session save handler"},  # php.ini, `php -d`
    "SESSION_STORE": {"memory": "express-session MemoryStore", "memorystore": "express-session MemoryStore"},
}
# Spring Boot properties (relaxed binding) -> {value -> what it means}.
SPRING_LOCAL_STORES = {
    "spring.session.store-type": {"none": "Spring Session disabled (servlet container's in-memory sessions)"},
    "server.servlet.session.persistent": {"true": "Spring Boot sessions in the servlet container's memory, "
                                                  "saved to the pod's disk across restarts"},
}
# Settings whose value holds JVM options (-Dkey=value): the JVM's own and those start scripts pass on.
JVM_OPTIONS = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "JAVA_OPTS", "CATALINA_OPTS")
SPRING_JSON = "spring.application.json"  # SPRING_APPLICATION_JSON, or as a property / option
DJANGO_CACHE_SESSIONS = "django.contrib.sessions.backends.cache"
DJANGO_CACHE_SETTINGS = ("CACHE_BACKEND", "DJANGO_CACHE_BACKEND")
DJANGO_LOCAL_CACHES = {"django.core.cache.backends.locmem.locmemcache": "local-memory cache",
                       "django.core.cache.backends.filebased.filebasedcache": "file-based cache"}


def relaxed(name: str) -> str:
    """A Spring Boot property name as relaxed binding compares it: case, dots, dashes, underscores
    do not matter."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


_SPRING_BY_RELAXED = {relaxed(name): stores for name, stores in SPRING_LOCAL_STORES.items()}


def stores_for(name: str) -> Mapping[str, str] | None:
    """{value -> meaning} of the local session stores a setting of this name can select, or None."""
    return LOCAL_STORES.get(name) or _SPRING_BY_RELAXED.get(relaxed(name))


@dataclass(frozen=True)
class Setting:
    value: Any           # its text (or another literal), None when not visible, or UNKNOWN
    path: str            # dotted path, on the workload, of the field that sets it
    source: str = ""     # "" for a literal in the workload, else where it comes from ("ConfigMap 'web' key ...")
    label: str = ""      # how the setting is written where it was found, when not just its name


@dataclass(frozen=True)
class LocalStore:
    path: str
    message: str
    unknown: bool
    sources: tuple       # the `source` of every setting the finding rests on


def _shown(name: str, setting: Setting) -> str:
    return f"{setting.label or name}={setting.value}" + (f" (from {setting.source})" if setting.source else "")


def _spring_json(name: str, setting: Setting) -> Iterator[tuple[str, Setting]]:
    try:
        settings = flatten(json.loads(setting.value), ".")
    except (ValueError, RecursionError, ConfigFileError):
        return  # Spring Boot refuses to start on JSON it cannot parse: no sessions at all
    for key, value in settings.items():
        value = lower_text(value) if isinstance(value, bool) else value  # JSON true reads as Spring's "true"
        yield key, replace(setting, value=value, label=f"{setting.label or name} {key}")


def carried(settings: Mapping[str, Setting]) -> Iterator[tuple[str, Setting]]:
    """The settings that values of `settings` carry: JVM system properties in JVM option variables
    (and SPRING_APPLICATION_JSON in those), and the keys of SPRING_APPLICATION_JSON."""
    for name, setting in settings.items():
        if not isinstance(setting.value, str):
            continue
        if name in JVM_OPTIONS:
            words = [((), word) for word in split_words(setting.value)]
            for _, key, value in java_properties(words):
                found = replace(setting, value=value, label=f"{setting.label or name} -D{key}")
                yield key, found
                if relaxed(key) == relaxed(SPRING_JSON):
                    yield from _spring_json(key, found)
        elif relaxed(name) == relaxed(SPRING_JSON):
            yield from _spring_json(name, setting)


def _unknown(name: str, setting: Setting, settings: Mapping[str, Setting]) -> LocalStore:
    # an unknown engine may put sessions on a cache backend that comes from elsewhere
    related = [settings[n].source for n in DJANGO_CACHE_SETTINGS if n in settings and name == "SESSION_ENGINE"]
    return LocalStore(setting.path, f"{setting.label or name} is unknown during preview", True,
                      (setting.source, *related))


def local_stores(settings: Mapping[str, Setting]) -> Iterator[LocalStore]:
    """Every server-local session store the named settings (and the settings their values carry)
    configure."""
    for name, setting in [*settings.items(), *carried(settings)]:
        stores = stores_for(name)
        if setting.value is UNKNOWN and (stores is not None or name in JVM_OPTIONS
                                         or relaxed(name) == relaxed(SPRING_JSON)):
            yield _unknown(name, setting, settings)
        elif stores is not None and lower_text(setting.value) in stores:
            yield LocalStore(setting.path, f"{_shown(name, setting)}: {stores[lower_text(setting.value)]} "
                             "keep session state on one pod", False, (setting.source,))
    yield from _django_local_cache(settings)


def _django_local_cache(settings: Mapping[str, Setting]) -> Iterator[LocalStore]:
    engine = settings.get("SESSION_ENGINE")
    if engine is None or engine.value is UNKNOWN or lower_text(engine.value) != DJANGO_CACHE_SESSIONS:
        return  # an UNKNOWN engine is already reported above
    for name in DJANGO_CACHE_SETTINGS:
        backend = settings.get(name)
        if backend is None:
            continue
        sources = (engine.source, backend.source)
        if backend.value is UNKNOWN:
            yield LocalStore(backend.path, f"{name} is unknown during preview: cannot tell where cached "
                             "sessions live", True, sources)
        elif lower_text(backend.value) in DJANGO_LOCAL_CACHES:
            yield LocalStore(engine.path, f"{_shown('SESSION_ENGINE', engine)} with {_shown(name, backend)}: "
                             f"Django cache sessions in a {DJANGO_LOCAL_CACHES[lower_text(backend.value)]} "
                             "stay on one pod", False, sources)


def is_session_setting(name: str) -> bool:
    """Can a setting of this name select a session store, or carry settings that do?"""
    return (stores_for(name) is not None or name in JVM_OPTIONS or relaxed(name) == relaxed(SPRING_JSON)
            or name in DJANGO_CACHE_SETTINGS)
