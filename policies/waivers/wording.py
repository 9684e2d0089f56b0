"""The waiver policies' names and what their findings say, shared by the pack and the gate so both
engines report the same finding in the same words (the decisions are in `decisions.py`)."""
from __future__ import annotations

from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.model import Waiver
from stateless_pack.policies.rule import ADVISORY, MANDATORY

REGISTRY_POLICY = "waiver-registry"
EXPIRED_POLICY = "expired-waiver"
UNBACKED_POLICY = "unbacked-suppression"
STALE_POLICY = "stale-waiver"
POLICY_NAMES = (REGISTRY_POLICY, EXPIRED_POLICY, UNBACKED_POLICY, STALE_POLICY)

UNBACKED_FIX = ("Record the exception as a waiver in the stack's registry (docs/waivers.md) and name it "
                "in the annotation, or remove the annotation and fix the resource.")
REGISTRY_FIX = "Run `stateless-pack waivers validate` and fix every problem it lists."
EXPIRED_FIX = "Renew the waiver with a new approval and expiry, or remove it."
STALE_FIX = "Remove the waiver if the exception is gone, or correct its scope."

DESCRIPTIONS = {
    REGISTRY_POLICY: "The waiver registry must be valid; if it is not, no waiver applies.",
    EXPIRED_POLICY: "Waivers expire: an expired waiver must be renewed or removed.",
    UNBACKED_POLICY: "Every suppression on a resource (checkov.io/skip*, stateless-pack.io/waivers) "
                     "must be backed by a valid registry waiver that covers it.",
    STALE_POLICY: "A waiver that covers nothing should be removed.",
}
FIXES = {REGISTRY_POLICY: REGISTRY_FIX, EXPIRED_POLICY: EXPIRED_FIX, UNBACKED_POLICY: UNBACKED_FIX,
         STALE_POLICY: STALE_FIX}
# The level of each waiver policy unless the policy configuration says otherwise.
DEFAULT_LEVELS = {REGISTRY_POLICY: MANDATORY, EXPIRED_POLICY: MANDATORY, UNBACKED_POLICY: MANDATORY,
                  STALE_POLICY: ADVISORY}


def registry_invalid(problem) -> str:
    return f"invalid waiver registry, no waiver applies: {problem}"


def expired(state: WaiverPass, waiver: Waiver) -> str:
    return (f"waiver {waiver.id} ({', '.join(waiver.rules)}; {waiver.scope_text()}) expired on "
            f"{waiver.expires}: the violations it covered block again ({state.source})")


def stale(state: WaiverPass, waiver: Waiver) -> str:
    where = f"stack {state.stack}" if state.stack else "these manifests"
    return (f"waiver {waiver.id} ({', '.join(waiver.rules)}; {waiver.scope_text()}) covers nothing "
            f"in {where} ({state.source})")
