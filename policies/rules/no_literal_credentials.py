"""Rule no-literal-credentials: credentials come from Secret references, never literals."""
from __future__ import annotations

from collections.abc import Mapping

from stateless_pack.policies.credentials import URL_PASSWORD, is_credential_name
from stateless_pack.policies.manifest import UNKNOWN, WORKLOAD_KINDS, containers, dotted, env_entries, get, pod_unknowns
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.command_line import command_words, is_reference, requirepass_values


def _literal_credentials(manifest, _cfg):
    for path in pod_unknowns(manifest):
        yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the pod template'} is unknown during "
                        "preview: cannot check for literal credentials", unknown=True)
    for cpath, container in containers(manifest):
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
                if is_credential_name(name):
                    yield Violation(f"{where}.value", f"env {name}: its value is unknown during preview "
                                    "(a literal value, maybe a credential)", unknown=True)
                continue
            if not isinstance(value, str) or not value.strip() or is_reference(value.strip()):
                continue
            if is_credential_name(name):
                yield Violation(f"{where}.value", f"env {name} holds a literal credential (value not shown)")
            else:
                match = URL_PASSWORD.match(value.strip())
                if match and not is_reference(match["password"]):
                    yield Violation(f"{where}.value", f"env {name} is a URL with a literal password "
                                    "(value not shown)")
        tokens = list(command_words(container))
        for rel, value in requirepass_values(tokens):
            where = dotted(cpath + rel)
            if value is UNKNOWN:
                yield Violation(where, f"{where}: the --requirepass value is unknown during preview",
                                unknown=True)
            elif isinstance(value, str) and value and not is_reference(value):
                yield Violation(where, f"container {container.get('name')!r} passes a literal "
                                "--requirepass password (value not shown)")


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
        "env value that is a URL carrying a password (`scheme://user:pass@host`); and on "
        "`--requirepass <literal>` in command/args. Values are never printed."
    ),
    remediation="Put the value in a Kubernetes Secret and reference it with env[].valueFrom.secretKeyRef "
                "(or mount it as a file); in URLs and args use `$(VAR)` with VAR from a secretKeyRef.",
    kinds=WORKLOAD_KINDS,
    check=_literal_credentials,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
