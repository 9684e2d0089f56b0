"""The waiver registry inside the CrossGuard pack: waived violations and the waiver policies.

`crossguard.report()` asks `pack_waivers().covering(rule, who)`: a covered violation is reported as
ADVISORY naming the waiver and its expiry (never dropped). The pack also gets these policies:

- `waiver-registry` (stack, mandatory): the registry is invalid; lists every problem, once. Then
  no waiver applies at all (fail closed).
- `expired-waiver` (stack, mandatory): a waiver that may apply to this stack has expired.
- `unbacked-suppression` (resource, mandatory): a `checkov.io/skip*` annotation or the components'
  `stateless-pack.io/waivers` marker that no valid registry waiver backs for this resource.
- `stale-waiver` (stack, advisory): an unexpired waiver for this stack that nothing used.

The registry is loaded once per pack process (one process per `pulumi preview`/`up`), located by
`waivers.registry_path` (env, stack config, repository root), judged by the wall clock of that run.
"""
from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from typing import Mapping

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies import catalog, waivers
from policies.catalog import Rule, Violation

REGISTRY_POLICY = "waiver-registry"
EXPIRED_POLICY = "expired-waiver"
UNBACKED_POLICY = "unbacked-suppression"
STALE_POLICY = "stale-waiver"
POLICY_NAMES = (REGISTRY_POLICY, EXPIRED_POLICY, UNBACKED_POLICY, STALE_POLICY)

_UNBACKED_FIX = ("Record the exception as a waiver in the registry (docs/waivers.md) and name it in the "
                 "annotation, or remove the annotation and fix the resource.")


class PackWaivers:
    """The registry as one pack run sees it; `registry` None (invalid) means no waiver applies."""

    def __init__(self, today: date, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.today = today
        self.stack = env.get("PULUMI_STACK", "")
        self.registry, self.problems = waivers.load_stack_registry(today, environ=env)
        self.used: set[str] = set()  # ids that covered a violation in this run (for stale-waiver)

    def covering(self, rule: Rule, who) -> waivers.Waiver | None:
        if self.registry is None:
            return None
        waiver = self.registry.covering((rule.name, rule.checkov_id), ref_of(who), self.today)
        if waiver is not None:
            self.used.add(waiver.id)
        return waiver


_state: PackWaivers | None = None


def pack_waivers() -> PackWaivers:
    """Loaded on first use; the wall clock is read here, at the edge, once per run."""
    global _state
    if _state is None:
        _state = PackWaivers(date.today())
    return _state


def ref_of(who) -> waivers.ResourceRef:
    """The waiver view of a crossguard.ResourceIdentity; its '<unknown ...>' placeholders match nothing."""
    known = lambda v: "" if not v or v.startswith("<unknown") else v  # noqa: E731
    return waivers.ResourceRef(stack=who.stack, kind=known(who.kind), namespace=known(who.namespace),
                               name=known(who.name), urn=who.urn)


def waived(violation: Violation, waiver: waivers.Waiver) -> Violation:
    """The violation, its message saying who waived it until when (the gate reads 'waived by W-...')."""
    note = (f" [waived by {waiver.id} until {waiver.expires}; approved by {waiver.approved_by} "
            f"({waiver.approver_role}); reference {waiver.reference}]")
    return replace(violation, message=violation.message + note)


# ---- the waiver policies --------------------------------------------------------------------------

def _registry_problems(args: StackValidationArgs, report_violation) -> None:
    state = pack_waivers()
    if state.problems:
        lines = "\n".join(f"  - {p}" for p in state.problems)
        report_violation(f"The waiver registry is invalid, so no waiver applies (fail closed):\n{lines}\n"
                         "Fix: correct the registry; `stateless-pack waivers validate` shows the same list.",
                         None)


def _expired(args: StackValidationArgs, report_violation) -> None:
    state = pack_waivers()
    if state.registry is None:
        return
    for waiver in state.registry.expired(state.today):
        if waiver.may_apply_to_stack(state.stack):
            report_violation(
                f"Waiver {waiver.id} ({', '.join(waiver.rules)}; {waiver.scope_text()}) expired on "
                f"{waiver.expires}: the violations it covered block again. Fix: renew it with a new "
                f"approval (new expiry) or remove it from {state.registry.source}.", None)


def _unbacked(args: ResourceValidationArgs, report_violation) -> None:
    from policies import crossguard  # late: crossguard builds the policy list from this module

    manifest = crossguard.cached_manifest(args.resource_type, args.props, args.name)
    if manifest is None:
        return
    state = pack_waivers()
    state.used |= waivers.backing_waiver_ids(manifest)
    who = crossguard.identity_of(manifest, args.urn, args.name)
    found = waivers.manifest_unbacked_suppressions(manifest, ref_of(who), state.registry, state.today)
    reporter = crossguard.Reporter(report_violation)
    for violation in found:
        unknown = (" This cannot be verified during preview because the value is unknown; it will be "
                   "checked at `pulumi up`." if violation.unknown else "")
        message = f"{who.ref}: {violation.message} (field {violation.path}).{unknown} Fix: {_UNBACKED_FIX}"
        if violation.unknown and crossguard.is_preview():
            reporter.advisory(message)
        else:
            reporter.at_policy_level(message, who.urn or None)
    reporter.finish()


def _used_in_stack(args: StackValidationArgs, state: PackWaivers) -> set:
    """Waivers that cover a violation of any rule (default config) or back a suppression in this stack.

    Recomputed from the stack so that the verdict does not depend on which calls this process saw;
    joined with `state.used` (the configured rules' actual coverage). Only the rules of waivers not
    yet known to be used run again, and resource rules only on resources in those waivers' scope:
    usually nothing reruns at all.
    """
    from policies import crossguard

    used = set(state.used)
    manifests, owners = [], []
    for resource in args.resources:
        manifest = crossguard.cached_manifest(resource.resource_type, resource.props, resource.name)
        if manifest is not None:
            manifests.append(manifest)
            owners.append(resource)
            used |= waivers.backing_waiver_ids(manifest)
    candidates = [w for w in state.registry.stale(used, stack=state.stack) if w.is_active(state.today)]
    if not candidates:
        return used
    identities = [crossguard.identity_of(m, r.urn, r.name) for m, r in zip(manifests, owners)]
    for rule in catalog.rules():
        rule_waivers = [w for w in candidates if rule.name in w.keys]
        if not rule_waivers:
            continue
        if rule.stack:
            hits = [identities[i] for i, _ in rule.run(manifests)]
        else:
            hits = [who for who, m in zip(identities, manifests)
                    if any(w.in_scope(ref_of(who)) for w in rule_waivers) for _ in rule.run(m)]
        for who in hits:
            waiver = state.registry.covering((rule.name, rule.checkov_id), ref_of(who), state.today)
            if waiver is not None:
                used.add(waiver.id)
    return used


def _stale(args: StackValidationArgs, report_violation) -> None:
    state = pack_waivers()
    if state.registry is None:
        return
    used = _used_in_stack(args, state)
    for waiver in state.registry.stale(used, stack=state.stack):
        if not waiver.is_expired(state.today):  # expired ones are reported by expired-waiver
            report_violation(
                f"Waiver {waiver.id} ({', '.join(waiver.rules)}; {waiver.scope_text()}) covers nothing "
                f"in stack {state.stack or '?'}. Fix: remove it from {state.registry.source} if the "
                "exception is gone, or correct its scope.", None)


def policies() -> list:
    """The waiver policies, appended to the catalog's policies by crossguard.build_policies()."""
    common = dict(tags=["waivers"])
    return [
        StackValidationPolicy(
            name=REGISTRY_POLICY, validate=_registry_problems,
            description="The waiver registry must be valid; if it is not, no waiver applies.",
            enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
            remediation_steps="Run `stateless-pack waivers validate` and fix every problem it lists.",
            **common),
        StackValidationPolicy(
            name=EXPIRED_POLICY, validate=_expired,
            description="Waivers expire: an expired waiver must be renewed or removed.",
            enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
            remediation_steps="Renew the waiver with a new approval and expiry, or remove it.", **common),
        ResourceValidationPolicy(
            name=UNBACKED_POLICY, validate=_unbacked,
            description="Every suppression on a resource (checkov.io/skip*, stateless-pack.io/waivers) "
                        "must be backed by a valid registry waiver that covers it.",
            enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
            remediation_steps=_UNBACKED_FIX, **common),
        StackValidationPolicy(
            name=STALE_POLICY, validate=_stale,
            description="A waiver that covers nothing should be removed.",
            enforcement_level=EnforcementLevel.ADVISORY, severity=Severity.LOW,
            remediation_steps="Remove the waiver if the exception is gone, or correct its scope.",
            **common),
    ]
