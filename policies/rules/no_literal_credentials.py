"""Rule no-literal-credentials: credentials come from Secret references, never literals (env, args, ConfigMap)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Iterator

from stateless_pack.policies.credentials import URL_PASSWORD, is_credential_name
from stateless_pack.policies.manifest import (
    CONTAINER_FIELDS, UNKNOWN, WORKLOAD_KINDS, containers, dotted, env_entries, get, kind_of,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.command_line import command_words, is_reference, requirepass_values
from stateless_pack.policies.rules.pod_unknowns import unknown_pod

# redis.conf / sentinel.conf lines that hold a password.
_REDIS_PASSWORD_LINE = re.compile(
    r"^[ \t]*(?P<directive>requirepass|masterauth|sentinel[ \t]+auth-pass[ \t]+\S+)[ \t]+(?P<value>\S+)",
    re.IGNORECASE | re.MULTILINE)


def _literal_kind(name: str, value: str) -> str:
    """What makes `value` under `name` a literal credential ('' if it is not one)."""
    if not value.strip() or is_reference(value.strip()):
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


def _workload_literals(manifest) -> Iterator[Violation]:
    yield from unknown_pod(manifest, CONTAINER_FIELDS, "for literal credentials")
    for cpath, container in containers(manifest):
        yield from _env_literals(cpath, container)
        tokens = list(command_words(container))
        for rel, value in requirepass_values(tokens):
            where = dotted(cpath + rel)
            if value is UNKNOWN:
                yield Violation(where, f"{where}: the --requirepass value is unknown during preview",
                                unknown=True)
            elif isinstance(value, str) and value and not is_reference(value):
                yield Violation(where, f"container {container.get('name')!r} passes a literal "
                                "--requirepass password (value not shown)")


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
        "ACCESS_KEY, PRIVATE_KEY, CREDENTIAL(S), AUTH_KEY, SIGNING_KEY or ENCRYPTION_KEY (except names "
        "ending in _FILE, _PATH, _DIR, _NAME, _ID, _URL, _HOST, _PORT, _TTL, _TIMEOUT, _ENABLED, ... or "
        "starting with ALLOW_/ENABLE_/..., and values that are only a `$(VAR)` reference); on any literal "
        "env value that is a URL carrying a password (`scheme://user:pass@host`); on "
        "`--requirepass <literal>` in command/args; and, in a ConfigMap, on a `data` key named like a "
        "credential with a value, a value that is a URL with a password, or a Redis config line "
        "(`requirepass`, `masterauth`, `sentinel auth-pass`) with a literal password. A placeholder "
        "that another key of the same ConfigMap substitutes at start (an init script) is not a "
        "literal. During preview an env or ConfigMap value that is unknown yet is reported as cannot be "
        "verified, whatever its name: any value may turn out to be a URL carrying a password. Values "
        "are never printed."
    ),
    remediation="Put the value in a Kubernetes Secret and reference it with env[].valueFrom.secretKeyRef "
                "(or mount it as a file); in URLs and args use `$(VAR)` with VAR from a secretKeyRef; "
                "keep redis.conf with its password in a Secret, or write the password into it from a "
                "Secret in an init container.",
    kinds=frozenset({*WORKLOAD_KINDS, "ConfigMap"}),
    check=_literal_credentials,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
