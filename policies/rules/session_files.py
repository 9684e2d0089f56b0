"""Server-local session stores set in framework config files that ConfigMaps and Secrets ship.

Which file is which format (by its name), and what in it keeps sessions on one pod:
- `*.ini`, PHP: `session.save_handler = files` (also `php_value[...]` / `php_admin_value[...]`);
- `application*.properties`, `application*.yml|yaml`, Spring Boot: `spring.session.store-type=none`,
  `server.servlet.session.persistent=true` (relaxed names; any YAML document, as a profile may be on);
- `*.py`, Django / Flask settings: `SESSION_ENGINE` / `SESSION_TYPE` as in env, and Django cache
  sessions on a `CACHES` local-memory or file cache;
- `*.xml`, Tomcat: a `PersistentManager` whose `Store` is not `JDBCStore`/`DataSourceStore`
  (a FileStore, or none);
- `appsettings*.json`, ASP.NET Core: a `DistributedCache`/`Session` section whose
  `Provider`/`Type`/`Mode` is `Memory`/`InMemory`, and ABP's `Redis:IsEnabled=false`;
- `.env`, `*.env`, dotenv (Laravel): the env settings of no-local-session-store.

A file that does not parse as its format is reported too: its settings cannot be checked.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Iterator

from stateless_pack.policies.manifest import lower_text
from stateless_pack.policies.rules import config_files
from stateless_pack.policies.rules.session_settings import LOCAL_STORES, Setting, local_stores

_PHP_HANDLER_KEYS = ("session.save_handler", "php_value[session.save_handler]",
                     "php_admin_value[session.save_handler]")
_SPRING = {"spring.session.storetype": ("none", "Spring Session is off: sessions stay in each pod's servlet "
                                                "container"),
           "server.servlet.session.persistent": ("true", "sessions stay in each pod's servlet container and are "
                                                         "saved to the pod's disk across restarts")}
_SHARED_TOMCAT_STORES = ("JDBCStore", "DataSourceStore")
_ASPNET_SECTIONS = frozenset({"distributedcache", "session", "sessionstore", "sessioncache"})
_ASPNET_FIELDS = frozenset({"provider", "type", "mode"})
_ASPNET_IN_MEMORY = frozenset({"memory", "inmemory", "distributedmemorycache", "memorydistributedcache"})


def _php_ini(text: str) -> Iterator[str]:
    settings = config_files.read_ini(text)
    for key in _PHP_HANDLER_KEYS:
        if lower_text(settings.get(key)) == "files":
            yield f"{key} = files: PHP file sessions keep session state on one pod"


def _spring_key(key: str) -> str:
    """Spring Boot's relaxed binding: case, dashes and underscores do not matter."""
    return key.lower().replace("-", "").replace("_", "")


def _spring(documents: list[dict]) -> Iterator[str]:
    for document in documents:
        for key, value in document.items():
            wanted = _SPRING.get(_spring_key(key))
            if wanted and lower_text(value) == wanted[0]:
                yield f"{key}={lower_text(value) if isinstance(value, bool) else value}: {wanted[1]}"


def _python_settings(text: str) -> Iterator[str]:
    values = config_files.read_python_settings(text)
    settings = {name: Setting(values[name], "") for name in ("SESSION_ENGINE", "SESSION_TYPE") if name in values}
    caches, alias = values.get("CACHES"), values.get("SESSION_CACHE_ALIAS", "default")
    backend = caches.get(alias) if isinstance(caches, dict) and isinstance(alias, str) else None
    if isinstance(backend, dict) and "BACKEND" in backend:
        settings["CACHE_BACKEND"] = Setting(backend["BACKEND"], "")
    for store in local_stores(settings):
        yield store.message.replace("CACHE_BACKEND=", f"CACHES[{alias!r}] BACKEND=")


def _local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _tomcat(text: str) -> Iterator[str]:
    for element in config_files.read_xml(text).iter():
        manager = element.get("className", "")
        if _local_name(element.tag) != "Manager" or not manager.endswith("PersistentManager"):
            continue
        stores = [child.get("className", "") for child in element if _local_name(child.tag) == "Store"]
        if not stores or not all(s.endswith(_SHARED_TOMCAT_STORES) for s in stores):
            yield (f"Tomcat PersistentManager with store {', '.join(stores) or '(none)'}: sessions swapped to "
                   "files on the pod, not to a shared JDBC store")


def _aspnet(text: str) -> Iterator[str]:
    for key, value in config_files.read_json(text).items():
        parts = key.lower().split(":")
        if (len(parts) >= 2 and parts[-2] in _ASPNET_SECTIONS and parts[-1] in _ASPNET_FIELDS
                and lower_text(value) in _ASPNET_IN_MEMORY):
            yield f"{key}={value}: an in-memory distributed cache keeps session state on one pod"
        elif parts == ["redis", "isenabled"] and lower_text(value) == "false":
            yield "Redis:IsEnabled=false: ABP falls back to an in-memory distributed cache on each pod"


def _spring_properties(text: str) -> Iterator[str]:
    return _spring([config_files.read_properties(text)])


def _spring_yaml(text: str) -> Iterator[str]:
    return _spring(config_files.read_yaml_documents(text))


def _dotenv(text: str) -> Iterator[str]:
    values = config_files.read_dotenv(text)
    settings = {name: Setting(value, "") for name, value in values.items()
                if name in LOCAL_STORES or name in ("CACHE_BACKEND", "DJANGO_CACHE_BACKEND")}
    for store in local_stores(settings):
        yield store.message


# (file name patterns, format, reader) in the order they are tried.
FORMATS = (
    (("*.ini",), "PHP ini", _php_ini),
    (("application*.properties",), "Java properties", _spring_properties),
    (("application*.yml", "application*.yaml"), "YAML", _spring_yaml),
    (("*.py",), "Python", _python_settings),
    (("*.xml",), "XML", _tomcat),
    (("appsettings*.json",), "JSON", _aspnet),
    ((".env", "*.env"), "dotenv", _dotenv),
)


def file_format(file_name: str):
    """(format name, reader) for a config file name, or None when no framework reads it for sessions."""
    base = file_name.rsplit("/", 1)[-1].lower()
    for patterns, name, reader in FORMATS:
        if any(fnmatch.fnmatchcase(base, pattern) for pattern in patterns):
            return name, reader
    return None


def session_file_findings(file_name: str, text: str) -> Iterator[str]:
    """What in this file keeps sessions on one pod (messages); a file that does not parse is one."""
    found = file_format(file_name)
    if found is None:
        return
    name, reader = found
    try:
        messages = list(reader(text))
    except config_files.ConfigFileError as exc:
        messages = [f"cannot be read as {name} ({exc}), so its session settings cannot be checked"]
    yield from messages
