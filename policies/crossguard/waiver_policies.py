"""The pack's waiver policies, each a question put to this run's waiver pass:

- `waiver-registry` (stack, mandatory): the registry is invalid; lists every problem, once. Then
  no waiver applies at all (fail closed).
- `expired-waiver` (stack, mandatory): a waiver that may apply to this stack has expired.
- `unbacked-suppression` (resource, mandatory): a `checkov.io/skip*` annotation or the components'
  `stateless-pack.io/waivers` marker that no valid registry waiver backs for this resource.
- `stale-waiver` (stack, advisory): an unexpired waiver for this stack that nothing used.
"""
from __future__ import annotations

from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from stateless_pack.policies import catalog
from stateless_pack.policies.crossguard import messages, settings
from stateless_pack.policies.crossguard.manifests import cached_manifests
from stateless_pack.policies.crossguard.reporting import Reporter
from stateless_pack.policies.crossguard.run_waivers import ref_of, run_waivers
from stateless_pack.policies.waivers import wording
from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.wording import (
    EXPIRED_FIX, EXPIRED_POLICY, REGISTRY_FIX, REGISTRY_POLICY, STALE_FIX, STALE_POLICY, UNBACKED_FIX,
    UNBACKED_POLICY,
)
from stateless_pack.policies.waivers.suppressions import named_waiver_ids



def _registry_message(state: WaiverPass) -> str:
    lines = "\n".join(f"  - {wording.registry_invalid(p)}" for p in state.problems)
    return f"{lines.strip()}\nFix: {REGISTRY_FIX}"


def _registry_problems(args: StackValidationArgs, report_violation) -> None:
    state = run_waivers()
    if state.problems:
        report_violation(_registry_message(state), None)


def _expired(args: StackValidationArgs, report_violation) -> None:
    state = run_waivers()
    for waiver in state.expired():
        report_violation(f"{wording.expired(state, waiver)}. Fix: {EXPIRED_FIX}", None)


def _unbacked(args: ResourceValidationArgs, report_violation) -> None:
    reporter = Reporter(report_violation)
    for manifest in cached_manifests(args.resource_type, args.props, args.name):
        ref = ref_of(manifest, args.urn)
        for violation in run_waivers().unbacked(manifest, ref):
            reporter.violation(messages.about(ref, violation.message, violation.path, UNBACKED_FIX,
                                              unknown=violation.unknown), ref.urn or None,
                               unknown=violation.unknown)
    reporter.finish()


def _used_in_stack(args: StackValidationArgs, state: WaiverPass) -> set:
    """Waivers that cover a violation of any rule (with the settings configured for it) or are named
    in this stack.

    Recomputed from the stack so that the verdict does not depend on which calls this process saw.
    Only the rules of waivers not yet known to be used run again, and resource rules only on
    resources in those waivers' scope: usually nothing reruns at all.
    """
    manifests, refs, partial, named = [], [], [], set()
    for resource in args.resources:
        found = cached_manifests(resource.resource_type, resource.props, resource.name)
        for manifest in found:
            manifests.append(manifest)
            refs.append(ref_of(manifest, resource.urn))
            partial.append(found.partial)
            named |= named_waiver_ids(manifest)
    candidates = state.stale(named)
    for rule in catalog.rules():
        rule_waivers = [w for w in candidates if rule.name in w.keys]
        if not rule_waivers:
            continue
        rule_config = settings.configured(rule)
        if rule.stack:
            whole = [i for i, p in enumerate(partial) if not p]
            hits = [refs[whole[i]] for i, _ in rule.run([manifests[i] for i in whole], rule_config)]
        else:
            hits = [ref for ref, m, p in zip(refs, manifests, partial)
                    if rule.applies_to(m, p) and any(w.in_scope(ref) for w in rule_waivers)
                    and rule.run(m, rule_config)]
        for ref in hits:
            state.waiver_for(rule.ids, ref)  # records the use
    return named


def _stale(args: StackValidationArgs, report_violation) -> None:
    state = run_waivers()
    for waiver in state.stale(_used_in_stack(args, state)):
        report_violation(f"{wording.stale(state, waiver)}. Fix: {STALE_FIX}", None)


_SEVERITIES = {REGISTRY_POLICY: Severity.HIGH, EXPIRED_POLICY: Severity.HIGH, UNBACKED_POLICY: Severity.HIGH,
               STALE_POLICY: Severity.LOW}


def policies() -> list:
    """The waiver policies, appended to the catalog's policies by `pack.build_policies()`."""
    def common(name: str) -> dict:
        return dict(name=name, description=wording.DESCRIPTIONS[name], severity=_SEVERITIES[name],
                    enforcement_level=settings.SDK_LEVELS[wording.DEFAULT_LEVELS[name]],
                    remediation_steps=wording.FIXES[name], tags=["waivers"])

    return [
        StackValidationPolicy(validate=_registry_problems, **common(REGISTRY_POLICY)),
        StackValidationPolicy(validate=_expired, **common(EXPIRED_POLICY)),
        ResourceValidationPolicy(validate=_unbacked, **common(UNBACKED_POLICY)),
        StackValidationPolicy(validate=_stale, **common(STALE_POLICY)),
    ]
