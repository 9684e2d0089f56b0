"""Server-local session stores set in framework config files that ConfigMaps and Secrets ship.

Which file is which format (by the path it is read at: a mounted file's path in the container, else
its name), and what in it keeps sessions on one pod:
- `*.ini`, PHP: `session.save_handler = files` (also `php_value[...]` / `php_admin_value[...]`);
- PHP-FPM pools (`*.conf` under `php-fpm.d/` or `pool.d/`, `www.conf`, `php-fpm.conf`): the same
  directives, and the environment a pool gives its workers (`env[SESSION_DRIVER] = file`);
- `application*.properties|yml|yaml`, `bootstrap*.properties|yml|yaml`, Spring Boot:
  `spring.session.store-type=none`, `server.servlet.session.persistent=true` (relaxed names; any YAML
  document, as a profile may be on);
- `*.py`, Django / Flask settings: `SESSION_ENGINE` / `SESSION_TYPE` as in env, and Django cache
  sessions on a `CACHES` local-memory or file cache;
- `*.xml`, Tomcat: a `PersistentManager` whose `Store` is not `JDBCStore`/`DataSourceStore`
  (a FileStore, or none);
- `appsettings*.json`, ASP.NET Core: a `DistributedCache`/`Session` section whose
  `Provider`/`Type`/`Mode` is `Memory`/`InMemory`, and ABP's `Redis:IsEnabled=false`;
- `.env`, `*.env`, dotenv (Laravel): the env settings of no-local-session-store.

The settings themselves are judged by the one table in session_settings.py. A file that does not
parse as its format is reported too: its settings cannot be checked.
"""
from __future__ import annotations

import fnmatch
import re
from typing import Any, Iterator

from stateless_pack.policies.manifest import lower_text
from stateless_pack.policies.rules import config_files
from stateless_pack.policies.rules.session_settings import Setting, local_stores

# `php_value[directive]` / `php_admin_value[directive]` set an ini directive per pool (or in .user.ini).
_PHP_WRAPPED = re.compile(r"^php(?:_admin)?_(?:value|flag)\[(?P<directive>[^\]]+)\]$", re.IGNORECASE)
_FPM_ENV = re.compile(r"^env\[(?P<name>[^\]]+)\]$")
_SHARED_TOMCAT_STORES = ("JDBCStore", "DataSourceStore")
_ASPNET_SECTIONS = frozenset({"distributedcache", "session", "sessionstore", "sessioncache"})
_ASPNET_FIELDS = frozenset({"provider", "type", "mode"})
_ASPNET_IN_MEMORY = frozenset({"memory", "inmemory", "distributedmemorycache", "memorydistributedcache"})


def _messages(settings: dict) -> Iterator[str]:
    yield from (store.message for store in local_stores(settings))


def _php_settings(values: dict) -> dict:
    """The PHP directives an ini file sets, as settings (`php_admin_value[x]` sets x)."""
    settings = {}
    for key, value in values.items():
        wrapped = _PHP_WRAPPED.match(key)
        directive = (wrapped["directive"] if wrapped else key).strip().lower()
        settings[directive] = Setting(value, "", label=key)
    return settings


def _php_ini(text: str) -> Iterator[str]:
    return _messages(_php_settings(config_files.read_ini(text)))


def _php_fpm_pool(text: str) -> Iterator[str]:
    values = config_files.read_ini(text)
    settings = _php_settings({k: v for k, v in values.items() if not _FPM_ENV.match(k)})
    for key, value in values.items():
        env = _FPM_ENV.match(key)
        if env:
            settings[env["name"]] = Setting(value, "", label=key)
    return _messages(settings)


def _spring(documents: list[dict]) -> Iterator[str]:
    for document in documents:
        settings = {key: Setting(lower_text(value) if isinstance(value, bool) else value, "")
                    for key, value in document.items()}
        yield from _messages(settings)


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
    return _messages({name: Setting(value, "") for name, value in config_files.read_dotenv(text).items()})


# (path patterns, format, reader) in the order they are tried: a pattern with a `/` is matched against
# the whole path, one without against the file name.
FORMATS = (
    (("*.ini",), "PHP ini", _php_ini),
    (("*/php-fpm.d/*.conf", "*/pool.d/*.conf", "php-fpm.conf", "www.conf"), "PHP-FPM pool", _php_fpm_pool),
    (("application*.properties", "bootstrap*.properties"), "Java properties", _spring_properties),
    (("application*.yml", "application*.yaml", "bootstrap*.yml", "bootstrap*.yaml"), "YAML", _spring_yaml),
    (("*.py",), "Python", _python_settings),
    (("*.xml",), "XML", _tomcat),
    (("appsettings*.json",), "JSON", _aspnet),
    ((".env", "*.env"), "dotenv", _dotenv),
)


def file_format(path: str):
    """(format name, reader) for a config file's path (or name), or None when no framework reads it
    for sessions."""
    path = "/" + path.lower().lstrip("/")
    base = path.rsplit("/", 1)[-1]
    for patterns, name, reader in FORMATS:
        if any(fnmatch.fnmatchcase(path if "/" in pattern else base, pattern) for pattern in patterns):
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
