"""Rule no-literal-credentials: credentials come from Secret references, never literals (env, args, ConfigMap)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Iterator

from stateless_pack.policies.credentials import URL_PASSWORD, is_credential_name
from stateless_pack.policies.manifest import (
    CONTAINER_FIELDS, UNKNOWN, WORKLOAD_KINDS, command_line, containers, dotted, env_entries, get, kind_of,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.command_line import (
    command_words, has_reference, is_reference, java_properties, long_options, program_option_values,
    shell_assignments,
)
from stateless_pack.policies.rules.pod_unknowns import unknown_pod

# Short options a program reads as its password (other short options are too ambiguous to judge):
# the MySQL/MariaDB clients' `-pSECRET` (attached only: `-p` alone prompts, the next word is a
# database), redis-cli's `-a SECRET`, sshpass's `-p SECRET`.
_MYSQL_CLIENTS = ("mysql", "mysqladmin", "mysqldump", "mysqlimport", "mysqlcheck", "mysqlshow", "mysqlslap",
                  "mysqlpump", "mariadb", "mariadb-admin", "mariadb-dump", "mariadb-import", "mariadb-check")
_PASSWORD_OPTIONS = {**dict.fromkeys(_MYSQL_CLIENTS, ("-p", "attached")), "redis-cli": ("-a", "next"),
                     "valkey-cli": ("-a", "next"), "keydb-cli": ("-a", "next"), "sshpass": ("-p", "next")}
# A value that is a path (two or more segments) names a file that holds the credential.
_FILE_PATH = re.compile(r"(?:~|\.{1,2})?(?:/[\w.@+,:=-]+){2,}/?|(?:~|\.{1,2})/[\w.@+,:=-]+")
# redis.conf / sentinel.conf lines that hold a password.
_REDIS_PASSWORD_LINE = re.compile(
    r"^[ \t]*(?P<directive>requirepass|masterauth|sentinel[ \t]+auth-pass[ \t]+\S+)[ \t]+(?P<value>\S+)",
    re.IGNORECASE | re.MULTILINE)


def _literal_kind(name: str, value: str) -> str:
    """What makes `value` under `name` a literal credential ('' if it is not one)."""
    if not value.strip() or is_reference(value.strip()) or _FILE_PATH.fullmatch(value.strip()):
        return ""
    if is_credential_name(name):
        return "a literal credential"
    match = URL_PASSWORD.match(value.strip())
    return "a URL with a literal password" if match and not is_reference(match["password"]) else ""


def _env_literals(cpath, container) -> Iterator[Violation]:
    for rel, entry in env_entries(container):
        where = dotted(cpath + rel)
        name = get(entry, "name")
        if entry is UNKNOWN or name is UNKNOWN:
            yield Violation(where, f"{where} is unknown during preview", unknown=True)
            continue
        if not isinstance(name, str) or not isinstance(entry, Mapping) or "value" not in entry:
            continue  # valueFrom (Secret/ConfigMap reference) or malformed
        value = entry["value"]
        if value is UNKNOWN:
            what = ("a literal value, maybe a credential" if is_credential_name(name)
                    else "a literal value, maybe a URL carrying a password")
            yield Violation(f"{where}.value", f"env {name}: its value is unknown during preview ({what})",
                            unknown=True)
        elif isinstance(value, str) and (what := _literal_kind(name, value)):
            yield Violation(f"{where}.value", f"env {name} holds {what} (value not shown)")


def _command_line_values(container) -> Iterator[tuple[tuple, str, str, Any]]:
    """(path, how it is written, name, value) of every option, property and variable the command
    line gives a value; `name` decides whether the value is a credential."""
    tokens = list(command_words(container))
    for rel, name, value, _ in long_options(tokens):
        yield rel, f"option {name}", name, value
    for rel, key, value in java_properties(tokens):
        yield rel, f"-D{key}", key, value
    for rel, program, flag, value in program_option_values(tokens, _PASSWORD_OPTIONS):
        yield rel, f"{program} {flag}", "password", value
    for rel, name, value in shell_assignments(container):
        yield rel, f"{name}=", name, value
    for rel, token in tokens:  # a URL with a password is a credential whatever it is given to
        if isinstance(token, str) and URL_PASSWORD.match(token):
            yield rel, "", "", token


def _command_line_literals(cpath, container) -> Iterator[Violation]:
    """One violation per command line item that holds a literal credential (values never shown)."""
    found: dict = {}
    for rel, item in command_line(container):
        if item is UNKNOWN:  # any item may turn out to be `--password=...` or a URL carrying a password
            yield Violation(dotted(cpath + rel), f"{dotted(cpath + rel)} is unknown during preview (maybe a "
                            "literal credential)", unknown=True)
    for rel, written, name, value in _command_line_values(container):
        if isinstance(value, str) and not has_reference(value) and (what := _literal_kind(name, value)):
            found.setdefault(dotted(cpath + rel), {})[f"{written} ({what})" if written else what] = None
    for where, whats in found.items():
        yield Violation(where, f"container {container.get('name')!r} passes a literal credential on its command "
                        f"line: {', '.join(whats)} (value not shown)")


def _workload_literals(manifest) -> Iterator[Violation]:
    yield from unknown_pod(manifest, CONTAINER_FIELDS, "for literal credentials")
    for cpath, container in containers(manifest):
        yield from _env_literals(cpath, container)
        yield from _command_line_literals(cpath, container)


def _substituted(placeholder: str, others: list[str]) -> bool:
    """Does another key of the ConfigMap (a start script) replace `placeholder` with a variable: a
    sed substitution whose pattern is the placeholder and whose replacement names a variable
    (`sed -i "s/<placeholder>/${AUTH}/" ...`, any delimiter)? The value merely appearing next to a
    `$` (`redis-cli -a <password> ping || exit $?`) is not a substitution."""
    substitution = re.compile(r"\bs(?P<d>[^\w\s\\])" + re.escape(placeholder) + r"(?P=d)(?P<by>[^\n]*?)(?P=d)")
    return any("$" in found["by"] for other in others for found in substitution.finditer(other))


def _redis_conf_passwords(text: str, others: list[str]) -> list[str]:
    """The Redis password directives of a config file that carry a literal value: not a placeholder a
    start script substitutes, nor a `${VAR}` an envsubst-like step fills."""
    found = []
    for match in _REDIS_PASSWORD_LINE.finditer(text):
        value = match["value"].strip("\"'")
        if value and not is_reference(value) and not _substituted(value, others):
            found.append(" ".join(match["directive"].split()[:2]))
    return list(dict.fromkeys(found))


def _config_map_literals(manifest) -> Iterator[Violation]:
    data = get(manifest, "data")
    if data is UNKNOWN:
        yield Violation("data", "data is unknown during preview: cannot check for literal credentials",
                        unknown=True)
        return
    if not isinstance(data, Mapping):
        return
    texts = {key: value for key, value in data.items() if isinstance(value, str)}
    for key, value in data.items():
        where = dotted(("data", key))
        if value is UNKNOWN:
            yield Violation(where, f"ConfigMap key {key!r}: its value is unknown during preview (maybe a "
                            "literal credential)", unknown=True)
        elif isinstance(key, str) and isinstance(value, str):
            what = _literal_kind(key, value)
            directives = _redis_conf_passwords(value, [text for other, text in texts.items() if other != key])
            if what:
                yield Violation(where, f"ConfigMap key {key!r} holds {what} (value not shown)")
            elif directives:
                yield Violation(where, f"ConfigMap key {key!r} sets {', '.join(directives)} to a literal "
                                "password (value not shown)")


def _literal_credentials(manifest, _cfg):
    if kind_of(manifest) == "ConfigMap":
        yield from _config_map_literals(manifest)
    else:
        yield from _workload_literals(manifest)


RULE = Rule(
    name="no-literal-credentials",
    checkov_id="CKV_STL_14",
    category="data-store",
    description=(
        "Credentials come from Secret references, never literals: fails on a non-empty literal "
        "`env[].value` whose name mentions PASSWORD, PASSWD, PASSPHRASE, SECRET, TOKEN, API_KEY, "
        "ACCESS_KEY, PRIVATE_KEY, CREDENTIAL(S), AUTH_KEY, SIGNING_KEY, ENCRYPTION_KEY, REQUIREPASS or "
        "MASTERAUTH in any spelling (`db-password`, `dbPassword`; except names ending in _FILE, _PATH, "
        "_DIR, _NAME, _ID, _URL, _HOST, _PORT, _TTL, _TIMEOUT, _ENABLED, _STDIN, ... or starting with "
        "ALLOW_/ENABLE_/NO_/..., values that are only a `$(VAR)` reference, and file paths); on any "
        "literal env value that is a URL carrying a password (`scheme://user:pass@host`); on the command "
        "line of any program: options named like a credential with a literal value (`--password "
        "secret`, `--db-password=secret`, `--api-key=...`, `--token ...`, Go-style `-token ...`, "
        "`--requirepass ...`), JVM properties (`-Djavax.net.ssl.keyStorePassword=...`), the short "
        "options a program reads as its password (the MySQL/MariaDB clients' attached `-pSECRET`, "
        "redis-cli's `-a`, sshpass's `-p`), shell assignments of credential variables, and URLs "
        "carrying a password; a value that is a file path, empty, or takes anything from a variable "
        "(`$(VAR)`, `$VAR`, `${VAR}`, `$(cat FILE)`) passes. In a ConfigMap it fails on a `data` key "
        "named like a credential with a value, a value that is a URL with a password, or a Redis config "
        "line (`requirepass`, `masterauth`, `sentinel auth-pass`) with a literal password. A "
        "placeholder that another key of the same ConfigMap substitutes at start (an init script) is "
        "not a literal. During preview an env or ConfigMap value or a command line item that is "
        "unknown yet is reported as cannot be verified, whatever its name: any value may turn out to "
        "be a URL carrying a password. Values are never printed."
    ),
    remediation="Put the value in a Kubernetes Secret and reference it with env[].valueFrom.secretKeyRef "
                "(or mount it as a file); in URLs and args use `$(VAR)` with VAR from a secretKeyRef; "
                "keep redis.conf with its password in a Secret, or write the password into it from a "
                "Secret in an init container.",
    kinds=frozenset({*WORKLOAD_KINDS, "ConfigMap"}),
    check=_literal_credentials,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
