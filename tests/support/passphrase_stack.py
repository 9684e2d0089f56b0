"""Stack files of the passphrase secrets provider, made as `pulumi config set --secret` makes them
(PBKDF2-HMAC-SHA256, 1,000,000 iterations, AES-256-GCM: pulumi's sdk/go/common/resource/config/crypt.go),
written here with `cryptography` so that the gate's decryption is checked against an independent
encryption, not against itself."""
from __future__ import annotations

import base64
import functools
import os

import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

# From pulumi/pulumi pkg/secrets/passphrase/manager_test.go (`state`): an encryptionsalt the Pulumi
# CLI made for the passphrase "password"; its ciphertext is the CLI's own encryption of "pulumi".
CLI_SALT = "v1:fozI5u6B030=:v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ=="
CLI_PASSPHRASE = "password"
CLI_CIPHERTEXT = "v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ=="
CLI_PLAINTEXT = "pulumi"


@functools.lru_cache(maxsize=None)
def _key(passphrase: str, salt: bytes) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=1_000_000)
    return kdf.derive(passphrase.encode())


def _seal(key: bytes, plaintext: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), None)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


class PassphraseStack:
    """One stack's salt and key: `secure(value)` is what `pulumi config set --secret` writes."""

    def __init__(self, passphrase: str, salt: bytes = b"gate-t1\x00"):
        self.key = _key(passphrase, salt)
        self.salt = f"v1:{base64.b64encode(salt).decode()}:{_seal(self.key, 'pulumi')}"

    def secure(self, plaintext: str) -> dict:
        return {"secure": _seal(self.key, plaintext)}

    def file_text(self, config: dict) -> str:
        """Pulumi.<stack>.yaml with `config` (values made with `secure()` stay encrypted)."""
        return yaml.safe_dump({"encryptionsalt": self.salt, "config": config}, sort_keys=False)
