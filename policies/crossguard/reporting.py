"""The one seam every violation of every policy passes: waiver, level, message.

pulumi-policy's Python SDK gives a validation one callback bound to the policy's level, so the only
way to emit an advisory diagnostic from a mandatory policy is to raise `UnknownValueError` (which
the SDK reports as ADVISORY). A `Reporter` therefore reports known violations at the policy's level
first and then raises ONE `UnknownValueError` whose message lists the rest:

- a violation the waiver pass says is waived: advisory, naming the waiver and its expiry (never
  dropped);
- a violation that depends on a value unknown during preview: advisory ("cannot be verified during
  preview"); at `pulumi up` (PULUMI_DRY_RUN != "true") it is reported at the policy's level, so an
  unverifiable resource never passes silently at update.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from stateless_pack.policies.crossguard import messages
from stateless_pack.policies.crossguard.run_waivers import run_waivers
from stateless_pack.policies.redaction import redact
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.waivers.decisions import waiver_note
from stateless_pack.policies.waivers.model import ResourceRef


def is_preview() -> bool:
    return os.environ.get("PULUMI_DRY_RUN", "").lower() == "true"


class Reporter:
    """Collects one policy run's violations (see module docstring)."""

    def __init__(self, report_violation: Callable[..., None]):
        self._report_violation = report_violation
        self._advisory: list[str] = []

    def at_policy_level(self, message: str, urn: str | None) -> None:
        self._report_violation(message, urn)

    def advisory(self, message: str) -> None:
        self._advisory.append(message)

    def violation(self, message: str, urn: str | None, *, unknown: bool) -> None:
        """Unknown during preview: advisory; otherwise at the policy's level."""
        if unknown and is_preview():
            self.advisory(message)
        else:
            self.at_policy_level(message, urn)

    def finish(self) -> None:
        if self._advisory:
            # The SDK's only per-violation advisory channel: it reports this error as ADVISORY.
            error = UnknownValueError(UNKNOWN_STRING_VALUE, [])
            error.message = "\n".join(self._advisory)
            raise error


def report(rule: Rule, violation: Violation, ref: ResourceRef, reporter: Reporter,
           sensitive: Iterable[str] = ()) -> None:
    """Every rule violation passes here: the waiver pass decides, the reporter reports."""
    waiver = run_waivers().waiver_for(rule.ids, ref)  # None when the registry is invalid: fail closed
    note = waiver_note(waiver) if waiver is not None else ""
    message = redact(messages.about(ref, violation.message, violation.path, rule.remediation,
                                    unknown=violation.unknown, note=note), sensitive)
    if waiver is not None:
        reporter.advisory(message)
    else:
        reporter.violation(message, ref.urn or None, unknown=violation.unknown)
