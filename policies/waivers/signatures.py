"""SSH signatures on waivers: the text a signature covers, the approvers' keys, and verification.

A waiver is signed like a Git commit: `ssh-keygen -Y sign -n stateless-pack-waiver` (the SSHSIG
format) over the waiver's canonical text, one line of JSON: every field except `signature`, keys
sorted, dates `YYYY-MM-DD`, no spaces, ASCII-escaped, ending with a newline. Reformatting the YAML
(quotes, flow or block style, key order, comments) does not change it; changing any value does.

Approvers' keys are `allowed_signers` lines (`ssh-keygen -Y verify -f`'s format), one e-mail address
as principal. Verification is the `sshsig` library's (Ed25519 and RSA keys, over `cryptography`);
this module only adds the checks `ssh-keygen -Y verify` makes and the library leaves out (namespace,
hash algorithm) and says which listed key, if any, made a signature.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sshsig
from sshsig.allowed_signers import AllowedSigner
from sshsig.sshsig import SshsigSignature

NAMESPACE = "stateless-pack-waiver"   # `ssh-keygen -Y sign -n` namespace: a waiver signature is only that
HASH_ALGORITHMS = (b"sha256", b"sha512")  # the ones ssh-keygen signs and verifies with
BEGIN, END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
_ARMOR = re.compile(re.escape(BEGIN) + r"(.*?)" + re.escape(END), re.DOTALL)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)
_EMAIL = re.compile(r"[^\s@,*?!\"]+@[^\s@,*?!\"]+", re.ASCII)


class SignatureError(ValueError):
    """A signature that does not verify; the message says why."""


@dataclass(frozen=True)
class Signer:
    """One allowed_signers line of the approvers file: whose key it is."""
    principal: str            # the approver's e-mail address, lower-cased
    key: sshsig.PublicKey
    line: str                 # as written (an allowed_signers line)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def parse_signer(line: str) -> Signer:
    """An allowed_signers line with one e-mail address as principal; ValueError says what is wrong."""
    if not isinstance(line, str) or not line.strip() or line.lstrip().startswith("#"):
        raise ValueError(f"must be an allowed_signers line 'EMAIL [namespaces=\"...\"] KEYTYPE BASE64', "
                         f"got {line!r}")
    try:
        parsed = AllowedSigner.parse(line.strip())
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not an allowed_signers line: {exc}") from None
    if not _EMAIL.fullmatch(parsed.principals):
        raise ValueError(f"principal must be one e-mail address without patterns, got {parsed.principals!r}")
    options = parsed.options or {}
    unsupported = sorted(set(options) - {"namespaces"})
    if unsupported:
        raise ValueError(f"option {', '.join(unsupported)} is not supported here")
    if "namespaces" in options and NAMESPACE not in options["namespaces"].split(","):
        raise ValueError(f"namespaces=\"{options['namespaces']}\" excludes {NAMESPACE!r}")
    try:
        key = sshsig.PublicKey.from_openssh_str(f"{parsed.key_type} {parsed.base64_key}")
    except NotImplementedError:
        raise ValueError(f"key type {parsed.key_type!r} is not supported: use ssh-ed25519 or ssh-rsa") from None
    except ValueError as exc:
        raise ValueError(f"not a valid {parsed.key_type} public key ({exc or 'bad encoding'})") from None
    return Signer(parsed.principals.lower(), key, line.strip())


def canonical_text(fields: Mapping[str, Any]) -> bytes:
    """What a waiver's signature covers: `fields` (without `signature`) as one line of sorted JSON."""
    def plain(value: Any) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    body = {k: plain(v) for k, v in fields.items() if k != "signature"}
    return (json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


def normalized_armor(text: Any) -> str:
    """The armored signature rebuilt from `text` (line breaks and indentation may have been
    reflowed by YAML); SignatureError when it is not one armored SSH signature."""
    if not isinstance(text, str):
        raise SignatureError(f"must be the armored SSH signature text, got {type(text).__name__}")
    found = _ARMOR.fullmatch(text.strip())
    body = "".join(found.group(1).split()) if found else ""
    if not found or not _BASE64.fullmatch(body) or len(body) % 4:
        raise SignatureError(f"is not an armored SSH signature ({BEGIN} ... {END})")
    return "\n".join([BEGIN, *(body[i:i + 70] for i in range(0, len(body), 70)), END]) + "\n"


def _parsed(armor: str) -> SshsigSignature:
    try:
        parsed = SshsigSignature(base64.b64decode("".join(armor.splitlines()[1:-1])))
    except (ValueError, binascii.Error, NotImplementedError, IndexError) as exc:
        raise SignatureError(f"is not a readable SSH signature ({exc or type(exc).__name__})") from None
    if parsed.namespace != NAMESPACE.encode():
        raise SignatureError(f"was made for namespace {parsed.namespace.decode(errors='replace')!r}, not "
                             f"{NAMESPACE!r}")
    if parsed.hash_algo not in HASH_ALGORITHMS:
        raise SignatureError(f"uses hash {parsed.hash_algo.decode(errors='replace')!r} (ssh-keygen uses "
                             "sha512 or sha256)")
    return parsed


def signing_key(text: Any, message: bytes) -> sshsig.PublicKey:
    """The public key that made signature `text` over `message`; SignatureError otherwise."""
    armor = normalized_armor(text)
    _parsed(armor)
    try:
        return sshsig.check_signature(message, armor, NAMESPACE)
    except NotImplementedError as exc:
        raise SignatureError(f"cannot be checked: {exc}") from None
    except Exception:  # noqa: BLE001 - whatever the library raises, the signature did not verify
        raise SignatureError("does not match the waiver as written: it was changed after signing, or "
                             "the signature is damaged") from None


def listed_signer(key: sshsig.PublicKey, signers: Iterable[Signer]) -> Signer | None:
    """The approvers file's entry for `key`, if it lists it."""
    return next((s for s in signers if s.key == key), None)


def fingerprint(key: sshsig.PublicKey) -> str:
    """`SHA256:...`, as `ssh-keygen -l` prints it."""
    return key.sha256_str()
