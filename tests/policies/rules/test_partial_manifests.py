"""Which rules may judge a partial manifest (a Pulumi `<Kind>Patch`): only those that flag what is
present, never what is absent."""
from __future__ import annotations

import pytest

from stateless_pack.policies.catalog import rules
from stateless_pack.policies.manifest import POD_SPEC_PATHS, POD_TEMPLATES

JUDGE_PATCHES = {"no-sticky-service", "no-sticky-edge", "no-host-path", "no-persistent-volume-claims",
                 "no-stateful-workloads", "no-local-session-store", "no-literal-credentials",
                 "redis-not-exposed"}


def test_the_rules_that_judge_patches_are_the_documented_ones():
    assert {r.name for r in rules() if r.judges_partial_manifests} == JUDGE_PATCHES
    assert not any(r.stack for r in rules() if r.judges_partial_manifests)


@pytest.mark.parametrize("rule", [r for r in rules() if r.judges_partial_manifests], ids=lambda r: r.name)
def test_a_rule_that_judges_patches_never_flags_an_absent_field(rule):
    workloads = {key.rpartition("/")[2] for key in POD_SPEC_PATHS if "/" not in key} if POD_TEMPLATES in rule.kinds else set()
    for kind in sorted(rule.kinds - {POD_TEMPLATES} | workloads):
        bare = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}
        # a bare object: nothing to flag but, for some kinds, the kind itself (a StatefulSet, a PVC)
        assert {v.path for v in rule.run(bare)} <= {"kind"}, kind
        assert rule.applies_to(bare, partial=True)


@pytest.mark.parametrize("name, manifest", [
    ("readiness-probe", {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "i", "ports": [{"containerPort": 80}]}]}}}}),
    ("approved-bucket-storage-class", {"apiVersion": "objectbucket.io/v1alpha1", "kind": "ObjectBucketClaim",
                                       "metadata": {"name": "b"}}),
])
def test_a_rule_that_requires_a_field_would_flag_every_patch_so_it_judges_none(name, manifest):
    rule = next(r for r in rules() if r.name == name)
    assert rule.run(manifest) and not rule.applies_to(manifest, partial=True) and rule.applies_to(manifest)
