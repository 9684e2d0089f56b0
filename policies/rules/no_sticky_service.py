"""Rule no-sticky-service: a Service must not pin clients to one pod (sessionAffinity: ClientIP)."""
from __future__ import annotations

from stateless_pack.policies.manifest import get, is_unknown
from stateless_pack.policies.rule import Rule, Violation


def _service_affinity(manifest, _cfg):
    affinity = get(manifest, "spec", "sessionAffinity")
    if is_unknown(affinity):
        yield Violation("spec.sessionAffinity", "sessionAffinity is unknown during preview", unknown=True)
    elif affinity == "ClientIP":
        yield Violation("spec.sessionAffinity", "sessionAffinity is ClientIP: clients stick to one pod")


RULE = Rule(
    name="no-sticky-service",
    checkov_id="CKV_STL_1",
    category="sessions",
    description="Services must not pin clients to one pod (sessionAffinity: ClientIP).",
    remediation="Set spec.sessionAffinity to None and keep session state in the shared Redis session "
                "store; sticky sessions need a waiver approved by the Head of DevOps.",
    kinds=frozenset({"Service"}),
    check=_service_affinity,
    judges_partial_manifests=True,  # flags only what a manifest contains
    waiver_approver="head-of-devops",
)
