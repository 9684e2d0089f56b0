"""Which names hold credentials: one definition for the rules, the pack's message redaction and the
components' argument checks."""
from __future__ import annotations

import re

_CREDENTIAL_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|"
    r"AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY")
# Names that mention a credential but hold something else: where it lives, its id, a setting about it.
_NOT_A_CREDENTIAL_SUFFIX = frozenset({"FILE", "PATH", "DIR", "NAME", "ID", "TTL", "EXPIRY", "EXPIRES",
                                      "LENGTH", "TIMEOUT", "ENABLED", "DISABLED", "TYPE", "HEADER",
                                      "URL", "ENDPOINT", "HOST", "PORT"})
_NOT_A_CREDENTIAL_PREFIX = frozenset({"ALLOW", "ENABLE", "DISABLE", "USE", "REQUIRE", "SKIP"})
URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:(?P<password>[^/@\s]+)@")


def is_credential_name(name: str) -> bool:
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if not words or words[-1] in _NOT_A_CREDENTIAL_SUFFIX or words[0] in _NOT_A_CREDENTIAL_PREFIX:
        return False
    return bool(_CREDENTIAL_NAME.search(name.upper()))
