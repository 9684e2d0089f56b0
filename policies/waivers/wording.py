"""The waiver policies' names and what their findings say, shared by the pack and the gate so both
engines report the same finding in the same words (the decisions are in `decisions.py`)."""
from __future__ import annotations

from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.model import Waiver

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


def registry_invalid(problem) -> str:
    return f"invalid waiver registry, no waiver applies: {problem}"


def expired(state: WaiverPass, waiver: Waiver) -> str:
    return (f"waiver {waiver.id} ({', '.join(waiver.rules)}; {waiver.scope_text()}) expired on "
            f"{waiver.expires}: the violations it covered block again ({state.source})")


def stale(state: WaiverPass, waiver: Waiver) -> str:
    where = f"stack {state.stack}" if state.stack else "these manifests"
    return (f"waiver {waiver.id} ({', '.join(waiver.rules)}; {waiver.scope_text()}) covers nothing "
            f"in {where} ({state.source})")
