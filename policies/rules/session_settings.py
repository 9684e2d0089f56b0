"""Which session settings keep session state on one pod: one table, wherever the settings come from.

The same names are judged whether a value is a literal env value, comes from a ConfigMap or Secret,
or is read from a framework's config file.

`local_stores(settings)` judges a set of named settings (env var names, or the same names read from a
dotenv or Python settings file); each finding says which settings it rests on, so a caller can keep
only the findings that involve values from ConfigMaps or Secrets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from stateless_pack.policies.manifest import UNKNOWN, lower_text

# setting name -> {value (lower case) -> what it means}: session stores that live inside one pod.
LOCAL_STORES = {
    "SESSION_ENGINE": {"django.contrib.sessions.backends.file": "Django file-based sessions"},
    "SESSION_TYPE": {"filesystem": "Flask-Session filesystem sessions",
                     "cachelib": "Flask-Session cachelib sessions (a local file cache by default)"},
    "SESSION_DRIVER": {"file": "Laravel file sessions", "array": "Laravel in-memory (array) sessions",
                       "apc": "Laravel APCu sessions (per-server memory)"},
    "PHP_SESSION_SAVE_HANDLER": {"files": "PHP `files` session save handler"},
    "SESSION_SAVE_HANDLER": {"files": "PHP `files` session save handler"},
    "SPRING_SESSION_STORE_TYPE": {"none": "Spring Session disabled (servlet container's in-memory sessions)"},
    "SERVER_SERVLET_SESSION_PERSISTENT": {"true": "Spring Boot sessions in the servlet container's memory, "
                                                  "saved to the pod's disk across restarts"},
    "SESSION_STORE": {"memory": "express-session MemoryStore", "memorystore": "express-session MemoryStore"},
}
DJANGO_CACHE_SESSIONS = "django.contrib.sessions.backends.cache"
DJANGO_CACHE_SETTINGS = ("CACHE_BACKEND", "DJANGO_CACHE_BACKEND")
DJANGO_LOCAL_CACHES = {"django.core.cache.backends.locmem.locmemcache": "local-memory cache",
                       "django.core.cache.backends.filebased.filebasedcache": "file-based cache"}


@dataclass(frozen=True)
class Setting:
    value: Any           # its text (or another literal), None when not visible, or UNKNOWN
    path: str            # dotted path, on the workload, of the field that sets it
    source: str = ""     # "" for a literal env value, else where it comes from ("ConfigMap 'web' key ...")


@dataclass(frozen=True)
class LocalStore:
    path: str
    message: str
    unknown: bool
    sources: tuple       # the `source` of every setting the finding rests on


def _shown(name: str, setting: Setting) -> str:
    return f"{name}={setting.value}" + (f" (from {setting.source})" if setting.source else "")


def local_stores(settings: Mapping[str, Setting]) -> Iterator[LocalStore]:
    """Every server-local session store the named settings configure."""
    for name, stores in LOCAL_STORES.items():
        setting = settings.get(name)
        if setting is None:
            continue
        if setting.value is UNKNOWN:
            # an unknown engine may put sessions on a cache backend that comes from elsewhere
            related = [settings[n].source for n in DJANGO_CACHE_SETTINGS
                       if n in settings and name == "SESSION_ENGINE"]
            yield LocalStore(setting.path, f"{name} is unknown during preview", True, (setting.source, *related))
        elif lower_text(setting.value) in stores:
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
