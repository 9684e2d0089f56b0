"""Which names hold credentials: one definition for the rules, the pack's message redaction and the
components' argument checks.

Two strengths of the same question: `is_credential_name` decides a violation (a literal under such
a name blocks), so it leaves out names that only mention a credential (`PASSWORD_FILE`, `TOKEN_TTL`);
`may_hold_credential` decides what to hide from messages, where hiding too much costs nothing, so
it also covers `auth`, DSNs, URLs and connection strings, but not references to Secrets
(`secretKeyRef`, `secretName`), which are names, not values.
"""
from __future__ import annotations

import re

_CREDENTIAL_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|"
    r"AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY|REQUIREPASS|MASTERAUTH")
# Names that mention a credential but hold something else: where it lives, its id, a setting about it.
_NOT_A_CREDENTIAL_SUFFIX = frozenset({"FILE", "PATH", "DIR", "NAME", "ID", "TTL", "EXPIRY", "EXPIRES",
                                      "LENGTH", "TIMEOUT", "ENABLED", "DISABLED", "TYPE", "HEADER",
                                      "URL", "ENDPOINT", "HOST", "PORT", "STDIN", "PROMPT", "ENV",
                                      "COMMAND", "CMD"})
_NOT_A_CREDENTIAL_PREFIX = frozenset({"ALLOW", "ENABLE", "DISABLE", "USE", "REQUIRE", "SKIP", "NO", "ASK",
                                      "PROMPT", "GENERATE"})
URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:(?P<password>[^/@\s]+)@")


def name_words(name: str) -> list[str]:
    """The words of an env var, key or option name, upper case: `DB_PASSWORD`, `db-password`,
    `dbPassword` and `javax.net.ssl.keyStorePassword` all end in PASSWORD."""
    return [w for w in re.split(r"[^A-Z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).upper()) if w]


def is_credential_name(name: str) -> bool:
    words = name_words(name)
    if not words or words[-1] in _NOT_A_CREDENTIAL_SUFFIX or words[0] in _NOT_A_CREDENTIAL_PREFIX:
        return False
    return bool(_CREDENTIAL_NAME.search("_".join(words)))


_MAY_HOLD_CREDENTIAL = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|auth|"
    r"dsn|conn(ection)?[-_]?str|_url$|_uri$|^url$|^uri$", re.IGNORECASE)
_REFERENCE_KEY = re.compile(r"(Ref|Refs|Name|Secrets)$|^secret$")


def may_hold_credential(key: str, *, as_key: bool = True) -> bool:
    """Could the value under `key` (a mapping key, or with `as_key=False` an env var's name) be a
    credential? Keys that reference a Secret by name are not."""
    if not _MAY_HOLD_CREDENTIAL.search(key):
        return False
    return not (as_key and _REFERENCE_KEY.search(key))
