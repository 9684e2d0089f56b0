"""A stack's `secure:` config values, decrypted offline as the Pulumi CLI does where its secrets provider allows it.

The passphrase provider (`encryptionsalt: v1:<salt>:v1:<nonce>:<ciphertext>` in Pulumi.<stack>.yaml)
needs nothing but the passphrase, which the pipeline gives in `PULUMI_CONFIG_PASSPHRASE` or
`PULUMI_CONFIG_PASSPHRASE_FILE`, read as the CLI reads them (pulumi/pkg/secrets/passphrase/manager.go).
The key is PBKDF2-HMAC-SHA256 over the passphrase with the salt, 1,000,000 iterations, 32 bytes; a
value is AES-256-GCM, `v1:<nonce>:<ciphertext>` in base64 (sdk/go/common/resource/config/crypt.go).
The salt's own ciphertext decrypts to "pulumi" with the right passphrase: that is how the CLI tells a
wrong one. Every other provider (a KMS or Vault URL in `secretsprovider:`, Pulumi Cloud's service when
the stack has no salt) needs its service: those values stay encrypted and `SecretsProvider.describe()`
says which provider holds them.
"""
from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

PASSPHRASE = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE = "PULUMI_CONFIG_PASSPHRASE_FILE"
ITERATIONS = 1_000_000   # crypt.go, NewSymmetricCrypterFromPassphrase
KEY_BYTES = 32           # AES-256
NONCE_BYTES = 12         # the GCM nonce the CLI makes
SALT_CHECK = "pulumi"    # what the salt's ciphertext decrypts to with the right passphrase


class SecureConfigError(Exception):
    """A `secure:` value that cannot be decrypted: no passphrase, a wrong one, a malformed value."""


@dataclass(frozen=True)
class SecretsProvider:
    """The secrets provider of a stack file, chosen as the CLI chooses it (pkg/secrets GetConfig):
    a `secretsprovider:` URL wins, then `encryptionsalt:`, else the backend's default (the service)."""

    kind: str        # "passphrase", "cloud" (a KMS/Vault URL) or "service" (Pulumi Cloud's default)
    url: str = ""    # the `secretsprovider:` URL of a cloud provider
    salt: str = ""   # the `encryptionsalt:` state of the passphrase provider

    def describe(self) -> str:
        if self.kind == "cloud":
            scheme = self.url.split("://", 1)[0]
            return f"the {scheme} secrets provider (secretsprovider: {self.url})"
        if self.kind == "service":
            return "Pulumi Cloud's secrets provider (the stack file has no encryptionsalt or secretsprovider)"
        return "the passphrase secrets provider"

    def refusal(self, key: str) -> str:
        """What the program is told when it reads `key`, a value of this provider the gate cannot decrypt."""
        return (f"config {key} is encrypted by {self.describe()}, which only the Pulumi CLI can reach: "
                f"give its value as {environment_key(key)} in the gate's environment")


def environment_key(key: str) -> str:
    """The variable that gives a config value (`PULUMI_CONFIG_<KEY>`, as pulumi's Python SDK spells it)."""
    return "PULUMI_CONFIG_" + re.sub(r"[^A-Za-z0-9_]", "_", key).upper()


def provider_of(stack_file: Mapping) -> SecretsProvider:
    url = str(stack_file.get("secretsprovider") or "")
    salt = str(stack_file.get("encryptionsalt") or "")
    if url and url not in ("passphrase", "default"):
        return SecretsProvider("cloud", url=url)
    if salt:
        return SecretsProvider("passphrase", salt=salt)
    return SecretsProvider("service")


def is_secure(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "secure" in value


def contains_secure(value: Any) -> bool:
    if is_secure(value):
        return True
    if isinstance(value, dict):
        return any(contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secure(v) for v in value)
    return False


def decrypt_tree(value: Any, decrypt: Callable[[str], str]) -> Any:
    """`value` with every `{secure: <ciphertext>}` in it replaced by its plaintext (structured config)."""
    if is_secure(value):
        return decrypt(str(value["secure"]))
    if isinstance(value, dict):
        return {k: decrypt_tree(v, decrypt) for k, v in value.items()}
    if isinstance(value, list):
        return [decrypt_tree(v, decrypt) for v in value]
    return value


def read_passphrase(environ: Mapping[str, str] = os.environ) -> str:
    """The passphrase as the CLI reads it: the variable (even empty), else the file's text, stripped."""
    if PASSPHRASE in environ:
        return environ[PASSPHRASE]
    path = environ.get(PASSPHRASE_FILE)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise SecureConfigError(f"cannot read {PASSPHRASE_FILE} ({path}): "
                                    f"{getattr(err, 'strerror', None) or err}") from None
    raise SecureConfigError(f"the stack's secure values need its passphrase: set {PASSPHRASE} or "
                            f"{PASSPHRASE_FILE} (a file holding it)")


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _open(key: bytes, ciphertext: str) -> str:
    """One `v1:<nonce>:<ciphertext>` value; ValueError for a malformed one, InvalidTag for a wrong key."""
    parts = ciphertext.split(":")
    if len(parts) != 3 or parts[0] != "v1":
        raise ValueError("not a passphrase-provider ciphertext (v1:<nonce>:<ciphertext>)")
    try:
        nonce, sealed = _b64(parts[1]), _b64(parts[2])
    except binascii.Error:
        raise ValueError("its base64 is malformed") from None
    if len(nonce) != NONCE_BYTES:
        raise ValueError("its nonce has the wrong size")
    return AESGCM(key).decrypt(nonce, sealed, None).decode("utf-8")


@functools.lru_cache(maxsize=4)
def _derive(passphrase: str, salt: bytes) -> bytes:
    """PBKDF2 costs about a second by design: once per (passphrase, salt) in a process."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=ITERATIONS)
    return kdf.derive(passphrase.encode("utf-8"))


def passphrase_decrypter(salt_state: str, passphrase: str) -> Callable[[str], str]:
    """The decrypter of a passphrase stack, once its salt's ciphertext shows the passphrase is right."""
    version, _, rest = salt_state.partition(":")
    salt_text, _, check = rest.partition(":")
    try:
        if version != "v1" or not check:
            raise ValueError
        salt = _b64(salt_text)
    except (ValueError, binascii.Error):
        raise SecureConfigError("encryptionsalt is malformed (expected v1:<salt>:v1:<nonce>:<ciphertext>)") from None
    key = _derive(passphrase, salt)
    try:
        right = _open(key, check) == SALT_CHECK
    except ValueError as err:
        raise SecureConfigError(f"encryptionsalt is malformed: {err}") from None
    except (InvalidTag, UnicodeDecodeError):
        right = False
    if not right:
        raise SecureConfigError(f"incorrect passphrase ({PASSPHRASE} or {PASSPHRASE_FILE}) "
                                "for the stack's encryptionsalt")

    def decrypt(ciphertext: str) -> str:
        try:
            return _open(key, ciphertext)
        except ValueError as err:
            raise SecureConfigError(str(err)) from None
        except (InvalidTag, UnicodeDecodeError):
            raise SecureConfigError("it does not decrypt with this stack's passphrase "
                                    "(was it encrypted for another stack?)") from None

    return decrypt
