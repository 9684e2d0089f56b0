"""Signing a waiver: `ssh-keygen -Y sign` over its canonical text, written into the registry file.

The signature goes into the file as text, next to the waiver's other fields, so that the rest of
the file (comments, quoting, order, line breaks) stays exactly as its authors wrote it; the edited
file is parsed again and must differ from the original only by that one signature, or nothing is
written. Verification is not done here: the caller loads the signed waiver the way every engine does.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from stateless_pack.policies.strict_yaml import StrictLoader
from stateless_pack.policies.waivers.signatures import NAMESPACE

SSH_KEYGEN_TIMEOUT = 120  # seconds; long enough to type a passphrase


class SigningError(Exception):
    """The waiver could not be signed or the signature not written; the message says why."""


def ssh_sign(message: bytes, key: Path) -> str:
    """The armored SSHSIG signature of `message` by `key` (a private key file, or the public key
    of one held by ssh-agent), made by `ssh-keygen -Y sign` in our namespace."""
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        raise SigningError("ssh-keygen is not installed (Debian/Ubuntu: apt-get install openssh-client)")
    if not key.is_file():
        raise SigningError(f"no key file {key}")
    try:
        done = subprocess.run([ssh_keygen, "-Y", "sign", "-n", NAMESPACE, "-f", str(key)], input=message,
                              capture_output=True, timeout=SSH_KEYGEN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SigningError(f"ssh-keygen did not finish within {SSH_KEYGEN_TIMEOUT}s") from None
    signature = done.stdout.decode("ascii", errors="replace")
    if done.returncode != 0 or "-----BEGIN SSH SIGNATURE-----" not in signature:
        error = done.stderr.decode(errors="replace").strip()
        raise SigningError(f"ssh-keygen -Y sign failed (exit {done.returncode}): {error or 'no signature'}")
    return signature


def _entry_node(root: yaml.Node, waiver_id: str) -> yaml.MappingNode:
    waivers = next((v for k, v in getattr(root, "value", []) if getattr(k, "value", None) == "waivers"), None)
    for item in getattr(waivers, "value", []):
        if isinstance(item, yaml.MappingNode) and any(k.value == "id" and getattr(v, "value", None) == waiver_id
                                                      for k, v in item.value):
            return item
    raise SigningError(f"waiver {waiver_id} is not in the registry")


def _end_line(node: yaml.Node) -> int:
    """Index of the first line after `node` (a block collection ends where its last child ends)."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return _end_line(last[1] if isinstance(node, yaml.MappingNode) else last)
    return node.end_mark.line + (1 if node.end_mark.column else 0)


def with_signature(text: str, waiver_id: str, signature: str) -> str:
    """`text` (a registry file) with `signature` as the `signature:` of waiver `waiver_id`, added
    after its last field or replacing the one it has; everything else kept as written."""
    entry = _entry_node(yaml.compose(text, Loader=StrictLoader), waiver_id)
    if entry.flow_style:
        raise SigningError(f"waiver {waiver_id} is written in flow style ({{...}}): write it as a block "
                           "mapping (one field per line) to sign it")
    indent = " " * entry.value[0][0].start_mark.column
    block = [f"{indent}signature: |\n"] + [f"{indent}  {line}\n" for line in signature.strip().splitlines()]
    lines = text.splitlines(keepends=True)
    existing = [(k, v) for k, v in entry.value if k.value == "signature"]
    if existing:
        first, last = existing[0][0].start_mark.line, _end_line(existing[0][1])
    else:
        first = last = _end_line(entry.value[-1][1])
    if first == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    edited = "".join(lines[:first] + block + lines[last:])
    _require_only_the_signature_changed(text, edited, waiver_id, signature)
    return edited


def _require_only_the_signature_changed(before: str, after: str, waiver_id: str, signature: str) -> None:
    expected: Any = yaml.load(before, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    for entry in expected["waivers"]:
        if isinstance(entry, dict) and entry.get("id") == waiver_id:
            entry["signature"] = signature.strip() + "\n"
    try:
        got = yaml.load(after, Loader=StrictLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        got = exc
    if got != expected:
        raise SigningError(f"cannot add the signature to waiver {waiver_id} without changing the rest of "
                           "the file; add it by hand as `signature: |` followed by these lines:\n" + signature)
