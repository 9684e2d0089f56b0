"""Rule no-stateful-workloads: applications run as Deployments, not StatefulSets or DaemonSets."""
from __future__ import annotations

from stateless_pack.policies.manifest import kind_of, name_of
from stateless_pack.policies.rule import Rule, Violation


def _stateful_workload(manifest, _cfg):
    kind = kind_of(manifest)
    why = {"StatefulSet": "gives its pods a fixed identity and their own state",
           "DaemonSet": "ties one pod to every node"}[kind]
    yield Violation("kind", f"{kind} {name_of(manifest)!r} {why}")


RULE = Rule(
    name="no-stateful-workloads",
    checkov_id="CKV_STL_6",
    category="storage",
    description="Applications run as Deployments: a StatefulSet or DaemonSet is allowed only with a "
                "waiver (e.g. platform agents, data stores run by the platform team).",
    remediation="Run the application as a Deployment with its state in shared services (Redis, object "
                "storage); if a StatefulSet/DaemonSet is truly required, record a waiver.",
    kinds=frozenset({"StatefulSet", "DaemonSet"}),
    check=_stateful_workload,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
