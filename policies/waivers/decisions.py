"""The waiver pass: every waiver decision of every engine is made here, over structured findings.

The CrossGuard pack, `stateless-pack preview` and `stateless-pack scan` all hold one `WaiverPass`
per run and ask it, never anything else:

- `waiver_for(rule ids, resource)`: the active registry waiver that covers a finding, or None;
- `unbacked(manifest, resource)`: the suppressions on a resource that no valid waiver backs;
- `problems`, `expired()`, `stale()`: what is wrong with the registry itself.

Fail closed by construction: a finding is waived only when `waiver_for` returns a waiver; while the
registry is invalid it returns None for everything and every suppression is unbacked. Nothing here
or in any engine reads a waiver decision back out of a message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from stateless_pack.policies.rule import Violation
from stateless_pack.policies.waivers.model import Registry, ResourceRef, Waiver
from stateless_pack.policies.waivers.suppressions import Claim, claims


@dataclass
class WaiverPass:
    """One run's view of a registry. `registry` None (invalid) means no waiver applies."""
    registry: Registry | None
    problems: list
    today: date
    stack: str | None = None        # None: no stack known (plain manifests), every waiver may apply
    used: set = field(default_factory=set)  # waiver ids that covered a finding or backed a claim

    @property
    def source(self) -> str:
        return self.registry.source if self.registry is not None else ""

    def waiver_for(self, rule_ids: Iterable[str], ref: ResourceRef) -> Waiver | None:
        """The waiver covering a finding that goes by `rule_ids` on `ref`, else None."""
        if self.registry is None:
            return None
        waiver = self.registry.covering([r for r in rule_ids if r], ref, self.today)
        if waiver is not None:
            self.used.add(waiver.id)
        return waiver

    def why_unbacked(self, claim: Claim, ref: ResourceRef) -> str | None:
        """Why `claim` is not backed on `ref`; None when a valid waiver backs it."""
        if claim.problem:
            return claim.problem
        if self.registry is None:
            return "the waiver registry is invalid, so no waiver applies"
        waiver = self.registry.get(claim.waiver_id)
        if waiver is None:
            return f"waiver {claim.waiver_id} is not in the registry {self.registry.source}"
        self.used.add(waiver.id)  # named by a resource: not stale, even if it backs nothing
        if waiver.is_expired(self.today):
            return f"waiver {waiver.id} expired on {waiver.expires}"
        if not waiver.is_active(self.today):
            return f"waiver {waiver.id} is not valid before {waiver.created}"
        if claim.rule_id is not None and self.registry.canonical(claim.rule_id) not in waiver.keys:
            return f"waiver {waiver.id} does not waive {claim.rule_id} (it waives {', '.join(waiver.rules)})"
        if not waiver.in_scope(ref):
            return f"waiver {waiver.id} does not cover {ref} (scope: {waiver.scope_text()})"
        return None

    def unbacked(self, manifest: Any, ref: ResourceRef) -> list[Violation]:
        """A violation for every suppression on `manifest` that no valid registry waiver backs."""
        found = []
        for claim in claims(manifest):
            why = self.why_unbacked(claim, ref)
            if why is None:
                continue
            if claim.rule_id is not None:
                what = f"skip of {claim.rule_id}" + (f" by {claim.waiver_id}" if claim.waiver_id else "")
            else:
                what = f"marker names {claim.waiver_id}" if claim.waiver_id else "suppression"
            found.append(Violation(claim.path, f"unbacked suppression ({what}): {why}", unknown=claim.unknown))
        return found

    def expired(self) -> list[Waiver]:
        """Expired waivers that may apply to this run's stack: they block until renewed or removed."""
        if self.registry is None:
            return []
        return [w for w in self.registry.expired(self.today) if w.may_apply_to_stack(self.stack)]

    def stale(self, also_used: Iterable[str] = ()) -> list[Waiver]:
        """Unexpired waivers for this stack that covered nothing and that no resource names."""
        if self.registry is None:
            return []
        used = self.used | set(also_used)
        return [w for w in self.registry.stale(used, stack=self.stack) if not w.is_expired(self.today)]


def waiver_note(waiver: Waiver) -> str:
    """How reports say who waived a finding until when."""
    return (f"waived by {waiver.id} until {waiver.expires}; approved by {waiver.approved_by} "
            f"({waiver.approver_role}); reference {waiver.reference}")
