"""Real SSH keys for the tests of signed waivers: made by `ssh-keygen`, listed in a pack folder's
own approvers.yaml (the shipped one is never touched), and waivers signed the way `waivers sign`
signs them."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml

from stateless_pack.gate.commands.pack import write_pack
from stateless_pack.gate.waiver_signing import ssh_sign, with_signature
from stateless_pack.policies.strict_yaml import StrictLoader
from stateless_pack.policies.waivers.loading import load_approvers, registry_entry
from stateless_pack.policies.waivers.signatures import NAMESPACE, canonical_text

HOD = "jane.doe@example.org"          # head-of-devops
LEAD = "max.mustermann@example.org"   # platform-lead
STRANGER = "mallory@example.org"      # holds no role and has no listed key


@dataclass(frozen=True)
class Key:
    private: Path
    public: str     # `ssh-ed25519 AAAA...`: type and key, as allowed_signers lists it

    @classmethod
    def generate(cls, folder: Path, name: str, kind: str = "ed25519") -> "Key":
        path = folder / name
        extra = ["-b", "2048"] if kind == "rsa" else []
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", name, "-f", str(path)],
                       check=True, capture_output=True)
        return cls(path, " ".join(Path(f"{path}.pub").read_text().split()[:2]))


@dataclass(frozen=True)
class Approval:
    """A pack folder whose approvers.yaml lists the generated keys of HOD (Ed25519) and LEAD (RSA)."""
    pack_dir: Path
    keys: Mapping[str, Key]   # HOD, LEAD, STRANGER

    @property
    def approvers_file(self) -> Path:
        return self.pack_dir / "approvers.yaml"

    def sign(self, text: str, waiver_id: str, by: str = HOD, *, today: date | None = None,
             damage: Callable[[str], str] = lambda signature: signature) -> str:
        """`text` with waiver `waiver_id` signed by `by`'s key (`damage` may change the signature)."""
        doc = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
        waiver = registry_entry(doc, "test", waiver_id, load_approvers(self.approvers_file),
                                today=today or date.today(), check_signature=False)
        signature = ssh_sign(canonical_text(waiver.signed_fields()), self.keys[by].private)
        return with_signature(text, waiver_id, damage(signature))

    def sign_head_of_devops(self, text: str) -> str:
        """`text` with every head-of-devops waiver signed by HOD (what the pack requires)."""
        for entry in yaml.load(text, Loader=StrictLoader)["waivers"]:  # noqa: S506
            if entry.get("approver_role") == "head-of-devops":
                text = self.sign(text, entry["id"])
        return text


def approvers_yaml(keys: Mapping[str, Key]) -> str:
    return (f"roles:\n  head-of-devops: [{HOD}]\n  platform-lead: [{LEAD}]\n"
            f"signers:\n  - {HOD} {keys[HOD].public}\n  - {LEAD} namespaces=\"stateless-pack-waiver\" "
            f"{keys[LEAD].public}\nsignature_required_for: [head-of-devops]\nmax_waiver_days: 180\n")


def approval(folder: Path) -> Approval:
    """Keys for HOD (Ed25519), LEAD (RSA) and STRANGER (Ed25519, unlisted), and a pack folder
    (`stateless-pack pack new`) whose approvers.yaml lists the first two."""
    keys = {HOD: Key.generate(folder, "hod"), LEAD: Key.generate(folder, "lead", "rsa"),
            STRANGER: Key.generate(folder, "stranger")}
    pack_dir = folder / "pack"
    write_pack(pack_dir)
    (pack_dir / "approvers.yaml").write_text(approvers_yaml(keys))
    return Approval(pack_dir, keys)


def damaged(signature: str) -> str:
    """The signature with one base64 character of its signature bytes changed."""
    lines = signature.strip().splitlines()
    body = lines[-2]
    i = max(0, len(body.rstrip("=")) - 8)
    lines[-2] = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1:]
    return "\n".join(lines) + "\n"


# ---- one sticky-session waiver per way a signature can be right or wrong ----------------------------

CASES = ("signed", "unsigned", "by-lead", "unknown-key", "widened", "corrupted")
REFUSALS = {  # what the registry problem says about each refused case
    "unsigned": f"role 'head-of-devops' requires a signature by {HOD}",
    "by-lead": f"made by {LEAD} (key SHA256:",
    "unknown-key": "does not list",
    "widened": "does not match the waiver as written: it was changed after signing",
    "corrupted": "does not match the waiver as written",
}


def case_id(case: str) -> str:
    return f"W-{CASES.index(case) + 1:04d}"


def sticky_waiver(case: str, name: str) -> str:
    today = date.today()
    return f"""  - id: {case_id(case)}
    rules: [no-sticky-service]
    scope: {{kind: Service, namespace: shop, name: {name}}}
    reason: Case {case} of the signature tests.
    approved_by: {HOD}
    approver_role: head-of-devops
    reference: OPS-{CASES.index(case) + 1}
    created: {today - timedelta(days=1)}
    expires: {today + timedelta(days=30)}
"""


def case_registry(keys: Approval, cases: Iterable[str], name: Callable[[str], str] = str) -> str:
    """A registry with one sticky-session waiver per case (for the Service `name(case)`), each
    signed, unsigned or broken as the case says."""
    text = "version: 1\nwaivers:\n" + "".join(sticky_waiver(c, name(c)) for c in cases)
    for case in cases:
        wid = case_id(case)
        if case in ("signed", "widened"):
            text = keys.sign(text, wid)
        elif case != "unsigned":
            signer = {"by-lead": LEAD, "unknown-key": STRANGER}.get(case, HOD)
            text = keys.sign(text, wid, signer, damage=damaged if case == "corrupted" else lambda s: s)
        if case == "widened":  # after signing: the waiver now covers every Service in the namespace
            text = text.replace(f"namespace: shop, name: {name(case)}}}", "namespace: shop}", 1)
    return text


# ---- OpenSSH alone, for the cross-checks --------------------------------------------------------------

def ssh_keygen_sign(key: Key, message: bytes, namespace: str = NAMESPACE) -> str:
    """`ssh-keygen -Y sign` itself (not our command): the armored signature of `message`."""
    return subprocess.run(["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(key.private)],
                          input=message, capture_output=True, check=True).stdout.decode()


def ssh_keygen_verify(allowed_signers: Path, principal: str, signature: Path, message: bytes) -> bool:
    """Does `ssh-keygen -Y verify` accept `signature` of `message` by `principal`?"""
    return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed_signers), "-I", principal,
                           "-n", NAMESPACE, "-s", str(signature)], input=message,
                          capture_output=True).returncode == 0


def signature_block(signature: str) -> str:
    """A `signature: |` field for an entry, written by hand."""
    return "    signature: |\n" + "".join(f"      {line}\n" for line in signature.splitlines())
