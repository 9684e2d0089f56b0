"""What a waiver is, what it covers, and the registry that holds them (values only, no I/O).

A waiver waives some rules (our names, our `CKV_STL_<n>` ids or Checkov ids) for the resources its
scope matches, between `created` and `expires` (UTC dates, inclusive). The registry answers
"which active waiver covers this rule on this resource?"; the waiver pass
(`policies/waivers/decisions.py`) is the only place that asks it on behalf of an engine.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from fnmatch import fnmatchcase
from collections.abc import Mapping
from typing import Any, Iterable, Sequence

from stateless_pack.policies.manifest import get, mapping
from stateless_pack.policies.waivers.signatures import Signer

# Ids are ASCII and exact: no look-alike digits, no trailing newline.
WAIVER_ID = re.compile(r"W-[0-9]{4,}", re.ASCII)
CHECKOV_ID = re.compile(r"CKV2?_[A-Z0-9]+_[0-9]+", re.ASCII)
OUR_CHECKOV_PREFIX = "CKV_STL_"                    # reserved for our catalog: must name a real rule

# Checkov treats any annotation key containing one of these as a skip (kubernetes_utils.py).
SKIP_ANNOTATION_MARKERS = ("checkov.io/skip", "bridgecrew.io/skip", "cortex.io/skip")
# The components' marker: the registry waivers a resource relies on, comma-separated.
WAIVER_MARKER = "stateless-pack.io/waivers"

SCOPE_KEYS = ("stack", "kind", "namespace", "name", "urn")
_GLOB = re.compile(r"[*?\[]")


def is_waiver_id(text: Any) -> bool:
    return isinstance(text, str) and WAIVER_ID.fullmatch(text) is not None


def is_checkov_id(text: Any) -> bool:
    return isinstance(text, str) and CHECKOV_ID.fullmatch(text) is not None


def utc_today() -> date:
    """The day waivers are judged by, in every engine: UTC, never the machine's time zone."""
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registry (or approvers file), located precisely."""
    file: str
    entry: str      # e.g. "waivers[2] W-0003"; "" for file-level problems
    field: str      # e.g. "expires", "scope.kind"; "" when not about one field
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.entry, self.field) if part)
        return f"{where}: {self.message}"


class WaiverRegistryError(ValueError):
    """The registry (or the approvers file) is invalid; `problems` lists every reason."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Approvers:
    """Who holds which approver role, their public keys, which roles must sign, and how long a
    waiver may last (owned by the pack)."""
    roles: Mapping[str, frozenset]   # role -> lower-cased e-mail addresses
    max_waiver_days: int
    source: str = ""
    signers: tuple = ()              # Signer per allowed_signers line
    signature_roles: frozenset = frozenset()  # roles whose waivers must carry a valid signature

    def holds(self, email: str, role: str) -> bool:
        return email.strip().lower() in self.roles.get(role, frozenset())

    def keys_of(self, email: str) -> tuple[Signer, ...]:
        return tuple(s for s in self.signers if s.principal == email.strip().lower())


@dataclass(frozen=True)
class ResourceRef:
    """What a waiver scope is matched against. Empty fields are unknown and match no pattern."""
    stack: str = ""
    kind: str = ""
    namespace: str = ""
    name: str = ""
    urn: str = ""

    @classmethod
    def of_manifest(cls, manifest: Any, *, stack: str = "", urn: str = "") -> "ResourceRef":
        meta = mapping(get(manifest, "metadata"))
        kind, name, ns = get(manifest, "kind"), meta.get("name"), meta.get("namespace")
        text = lambda v: v if isinstance(v, str) else ""  # noqa: E731 - unknowns match nothing
        namespace = "default" if ns in (None, "") else text(ns)  # Kubernetes' default namespace
        return cls(stack=stack, kind=text(kind), namespace=namespace, name=text(name), urn=urn)

    @property
    def display(self) -> str:
        """`Kind/namespace/name`: how every report names a resource."""
        return f"{self.kind or '?'}/{self.namespace or '?'}/{self.name or '?'}"

    def __str__(self) -> str:
        return self.display + (f" in stack {self.stack}" if self.stack else "")


def pins_resources(scope: Mapping[str, str]) -> bool:
    """Does the scope name particular resources? By what its patterns match, not how they are
    spelled: a namespace or name without wildcards, or a URN whose resource name has none.
    (`name: "?*"`, `kind: "*?"` or `urn: "urn:*"` match everything and pin nothing.)"""
    for key in ("namespace", "name"):
        value = scope.get(key)
        if isinstance(value, str) and value and not _GLOB.search(value):
            return True
    urn = scope.get("urn")
    if isinstance(urn, str) and "::" in urn:
        resource_name = urn.rsplit("::", 1)[1]
        return bool(resource_name) and not _GLOB.search(resource_name)
    return False


@dataclass(frozen=True)
class Waiver:
    id: str
    rules: tuple            # as written (rule names and/or Checkov ids)
    scope: tuple            # ((key, glob), ...) in SCOPE_KEYS order
    reason: str
    approved_by: str
    approver_role: str
    reference: str
    created: date
    expires: date
    keys: frozenset = field(default=frozenset(), compare=False)  # canonical rule keys
    signature: str = field(default="", compare=False, repr=False)  # armored SSHSIG, as written
    signed_by: str = ""     # verified: the approver whose listed key made `signature` ("" unsigned)
    signing_key: str = ""   # verified: that key's SHA256 fingerprint

    def signed_fields(self) -> dict:
        """What a signature covers: every field of the entry but `signature`, as written."""
        return {"id": self.id, "rules": list(self.rules), "scope": dict(self.scope), "reason": self.reason,
                "approved_by": self.approved_by, "approver_role": self.approver_role,
                "reference": self.reference, "created": self.created, "expires": self.expires}

    def is_expired(self, today: date) -> bool:
        """Valid through its expiry day; expired from the day after."""
        return today > self.expires

    def is_active(self, today: date) -> bool:
        return self.created <= today <= self.expires

    def in_scope(self, ref: ResourceRef) -> bool:
        """All scope keys must match; a field the resource does not know never matches."""
        for key, pattern in self.scope:
            value = getattr(ref, key)
            if not value or not fnmatchcase(value, pattern):
                return False
        return True

    def may_apply_to_stack(self, stack: str | None) -> bool:
        """False only when the scope provably excludes `stack` (None: no stack known, may apply)."""
        if stack is None:
            return True
        scope = dict(self.scope)
        if "stack" in scope and not fnmatchcase(stack, scope["stack"]):
            return False
        urn = scope.get("urn")
        if urn and urn.startswith("urn:pulumi:") and "::" in urn:
            stack_part = urn[len("urn:pulumi:"):].split("::", 1)[0]
            if not _GLOB.search(stack_part) and stack_part != stack:
                return False
        return True

    def scope_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.scope)


@dataclass(frozen=True)
class Registry:
    source: str
    waivers: tuple
    aliases: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def canonical(self, rule_id: str) -> str:
        """Our rule name for a rule name or CKV_STL id; other Checkov ids stay as they are."""
        return self.aliases.get(rule_id, rule_id)

    def get(self, waiver_id: str) -> Waiver | None:
        return next((w for w in self.waivers if w.id == waiver_id), None)

    def covering(self, rule_ids: Iterable[str] | str, ref: ResourceRef, today: date) -> Waiver | None:
        """The first active waiver that waives one of `rule_ids` for `ref`, else None.

        `rule_ids` are the names a finding goes by, e.g. ("no-sticky-service", "CKV_STL_1") or
        ("CKV_K8S_21",); our rule names and CKV_STL ids are interchangeable.
        """
        wanted = {self.canonical(r) for r in ([rule_ids] if isinstance(rule_ids, str) else rule_ids)}
        for waiver in self.waivers:
            if waiver.is_active(today) and waiver.keys & wanted and waiver.in_scope(ref):
                return waiver
        return None

    def expired(self, today: date) -> list:
        return [w for w in self.waivers if w.is_expired(today)]

    def expiring(self, within_days: int, today: date) -> list:
        """Waivers that are expired or expire within `within_days` days of `today`."""
        return [w for w in self.waivers if (w.expires - today).days <= within_days]

    def stale(self, used_waiver_ids: Iterable[str], *, stack: str | None = None) -> list:
        """Waivers nothing used; with `stack`, only those whose scope may apply to that stack."""
        used = set(used_waiver_ids)
        return [w for w in self.waivers if w.id not in used and w.may_apply_to_stack(stack)]
