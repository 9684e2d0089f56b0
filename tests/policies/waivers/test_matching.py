"""Using the registry: expiry with an injected clock, scope matching, stale waivers, and suppressions
(Checkov skip annotations, the components' waiver marker) that the registry must back."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from stateless_pack.policies import catalog
from stateless_pack.policies.catalog import Rule
from stateless_pack.policies.manifest import UNKNOWN
from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.loading import load_approvers, load_registry
from stateless_pack.policies.waivers.model import ResourceRef
from stateless_pack.policies.waivers.suppressions import named_waiver_ids
from support.paths import FIXTURES as FIXTURE_ROOT

FIXTURES = FIXTURE_ROOT / "waivers"
TODAY = date(2026, 12, 1)
STAND_IN = Rule(name="stand-in-any-approver", checkov_id="CKV_STL_999", category="storage",
                description="stand-in", remediation="stand-in", kinds=frozenset({"Deployment"}),
                check=lambda manifest, cfg: iter(()))

# W-0001: no-sticky-service, stack dev, Service shop/session-*, expires 2027-01-29
# W-0002: CKV_K8S_22 + stand-in, urn of dev Deployments named legacy-*, expires 2026-12-15
# W-0003: CKV_STL_1 (= no-sticky-service), prod Service checkout, expired 2026-11-30
STICKY = ResourceRef(stack="dev", kind="Service", namespace="shop", name="session-store",
                     urn="urn:pulumi:dev::shop::kubernetes:core/v1:Service::session-store")
LEGACY = ResourceRef(stack="dev", kind="Deployment", namespace="shop", name="legacy-web",
                     urn="urn:pulumi:dev::shop::kubernetes:apps/v1:Deployment::legacy-web")
CHECKOUT = ResourceRef(stack="prod", kind="Service", namespace="default", name="checkout")


def manifest_unbacked_suppressions(manifest, ref, registry, today):
    return WaiverPass(registry, [], today).unbacked(manifest, ref)


def unbacked_suppressions(annotations, ref, registry, today):
    """The suppressions in `annotations` (on a resource of `ref`'s kind) that no waiver backs."""
    return manifest_unbacked_suppressions({"kind": ref.kind, "metadata": {"annotations": annotations}},
                                          ref, registry, today)


@pytest.fixture(scope="module")
def registry():
    return load_registry(FIXTURES / "valid.yaml", load_approvers(FIXTURES / "approvers.yaml"),
                         today=TODAY, catalog=[*catalog.rules(), STAND_IN])


def ids(waivers):
    return [w.id for w in waivers]


# ---- expiry (injected clock) -------------------------------------------------------------------

def test_waiver_is_valid_through_its_expiry_day_and_expired_the_day_after(registry):
    expires = registry.get("W-0002").expires  # 2026-12-15
    for day in (expires - timedelta(days=1), expires):
        assert registry.covering(["CKV_K8S_22"], LEGACY, day).id == "W-0002"
        assert "W-0002" not in ids(registry.expired(day))
    after = expires + timedelta(days=1)
    assert registry.covering(["CKV_K8S_22"], LEGACY, after) is None
    assert "W-0002" in ids(registry.expired(after))


def test_expired_lists_exactly_the_waivers_past_their_date(registry):
    assert ids(registry.expired(TODAY)) == ["W-0003"]
    assert ids(registry.expired(date(2026, 11, 30))) == []
    assert ids(registry.expired(date(2027, 1, 30))) == ["W-0001", "W-0002", "W-0003"]


def test_expired_waiver_covers_nothing_even_in_scope(registry):
    assert registry.covering(["no-sticky-service"], CHECKOUT, TODAY) is None
    assert registry.covering(["no-sticky-service"], CHECKOUT, date(2026, 11, 30)).id == "W-0003"


def test_waiver_does_not_apply_before_it_was_created(registry):
    assert registry.covering(["CKV_K8S_22"], LEGACY, date(2026, 11, 14)) is None
    assert registry.covering(["CKV_K8S_22"], LEGACY, date(2026, 11, 15)).id == "W-0002"


def test_expiring_within_n_days_includes_expired_ones(registry):
    assert ids(registry.expiring(13, TODAY)) == ["W-0003"]           # W-0002 is 14 days out
    assert ids(registry.expiring(14, TODAY)) == ["W-0002", "W-0003"]
    assert ids(registry.expiring(0, date(2026, 11, 1))) == []


# ---- scope matching, including near misses ------------------------------------------------------

def test_covering_matches_rule_by_name_or_checkov_id_in_either_direction(registry):
    # W-0001 lists the rule name; findings may come by name (CrossGuard) or CKV_STL id (Checkov)
    assert registry.covering(["no-sticky-service"], STICKY, TODAY).id == "W-0001"
    assert registry.covering(["CKV_STL_1"], STICKY, TODAY).id == "W-0001"
    assert registry.covering("CKV_STL_1", STICKY, TODAY).id == "W-0001"
    # W-0002 lists CKV_STL_999 by name (stand-in-any-approver) and a built-in Checkov id
    assert registry.covering(["CKV_STL_999"], LEGACY, TODAY).id == "W-0002"
    assert registry.covering(["CKV_K8S_22"], LEGACY, TODAY).id == "W-0002"


@pytest.mark.parametrize("near_miss", [
    ResourceRef(stack="prod", kind="Service", namespace="shop", name="session-store"),   # other stack
    ResourceRef(stack="dev", kind="Service", namespace="shop2", name="session-store"),   # namespace
    ResourceRef(stack="dev", kind="Ingress", namespace="shop", name="session-store"),    # kind
    ResourceRef(stack="dev", kind="Service", namespace="shop", name="sessions"),         # glob
    ResourceRef(stack="dev", kind="Service", namespace="shop", name="Session-store"),    # case
    ResourceRef(stack="", kind="Service", namespace="shop", name="session-store"),       # unknown stack
], ids=["other-stack", "namespace", "kind", "glob", "case", "no-stack"])
def test_scope_near_misses_are_not_covered(registry, near_miss):
    assert registry.covering(["no-sticky-service"], near_miss, TODAY) is None


def test_scope_glob_matches(registry):
    for name in ("session-store", "session-", "session-a-b"):
        ref = ResourceRef(stack="dev", kind="Service", namespace="shop", name=name)
        assert registry.covering(["no-sticky-service"], ref, TODAY).id == "W-0001"


def test_waiver_of_one_rule_does_not_cover_another_rule(registry):
    assert registry.covering(["CKV_K8S_21"], STICKY, TODAY) is None
    assert registry.covering(["no-sticky-service"], LEGACY, TODAY) is None


def test_urn_scope_near_misses(registry):
    other_stack = ResourceRef(stack="dev", kind="Deployment", namespace="shop", name="legacy-web",
                              urn="urn:pulumi:prod::shop::kubernetes:apps/v1:Deployment::legacy-web")
    other_type = ResourceRef(stack="dev", kind="Deployment", namespace="shop", name="legacy-web",
                             urn="urn:pulumi:dev::shop::kubernetes:apps/v1:StatefulSet::legacy-web")
    no_urn = ResourceRef(stack="dev", kind="Deployment", namespace="shop", name="legacy-web")
    for ref in (other_stack, other_type, no_urn):
        assert registry.covering(["CKV_K8S_22"], ref, TODAY) is None


def test_resource_ref_of_manifest_defaults_namespace_and_ignores_unknowns():
    manifest = {"kind": "Service", "metadata": {"name": "session-store"}}
    assert ResourceRef.of_manifest(manifest, stack="dev") == ResourceRef(
        stack="dev", kind="Service", namespace="default", name="session-store")
    unknown = {"kind": "Service", "metadata": {"name": UNKNOWN, "namespace": UNKNOWN}}
    ref = ResourceRef.of_manifest(unknown, stack="dev")
    assert (ref.name, ref.namespace) == ("", "")


# ---- stale waivers ------------------------------------------------------------------------------

def test_stale_are_the_waivers_nothing_used(registry):
    assert ids(registry.stale(["W-0001"])) == ["W-0002", "W-0003"]
    assert ids(registry.stale(["W-0001", "W-0002", "W-0003"])) == []


def test_stale_in_a_stack_ignores_waivers_scoped_to_other_stacks(registry):
    assert ids(registry.stale([], stack="dev")) == ["W-0001", "W-0002"]   # W-0003 is prod's
    assert ids(registry.stale([], stack="prod")) == ["W-0003"]            # W-0002's urn is dev's


# ---- unbacked suppressions ----------------------------------------------------------------------

def messages(problems):
    return [p.message for p in problems]


def test_backed_skip_annotation_and_marker_are_fine(registry):
    annotations = {"checkov.io/skip1": "CKV_STL_1=W-0001", "stateless-pack.io/waivers": "W-0001",
                   "app.kubernetes.io/name": "shop"}
    assert unbacked_suppressions(annotations, STICKY, registry, TODAY) == []
    legacy = {"checkov.io/skip1": "CKV_K8S_22=W-0002", "checkov.io/skip2": "CKV_STL_999=W-0002",
              "stateless-pack.io/waivers": "W-0002"}
    assert unbacked_suppressions(legacy, LEGACY, registry, TODAY) == []


@pytest.mark.parametrize("value", ["CKV_K8S_21", "CKV_K8S_21=legacy app", "CKV_K8S_21=", "CKV_K8S_21=see W-0001"])
def test_skip_annotation_without_a_waiver_id_is_unbacked(registry, value):
    [problem] = unbacked_suppressions({"checkov.io/skip3": value}, STICKY, registry, TODAY)
    assert problem.path == 'metadata.annotations["checkov.io/skip3"]'
    assert "names no registered waiver" in problem.message
    assert not problem.unknown


@pytest.mark.parametrize("key", ["bridgecrew.io/skip1", "cortex.io/skip2", "checkov.io/skip"])
def test_every_annotation_checkov_reads_as_a_skip_is_checked(registry, key):
    assert len(unbacked_suppressions({key: "CKV_K8S_21=oops"}, STICKY, registry, TODAY)) == 1


def test_marker_naming_an_unknown_waiver_is_unbacked(registry):
    [problem] = unbacked_suppressions({"stateless-pack.io/waivers": "W-0001, W-0404"}, STICKY,
                                      registry, TODAY)
    assert problem.path == 'metadata.annotations["stateless-pack.io/waivers"]'
    assert "W-0404 is not in the registry" in problem.message


def test_skip_naming_an_unknown_waiver_is_unbacked(registry):
    assert "W-0404 is not in the registry" in messages(
        unbacked_suppressions({"checkov.io/skip1": "CKV_STL_1=W-0404"}, STICKY, registry, TODAY))[0]


def test_skip_by_a_waiver_that_does_not_waive_that_rule_is_unbacked(registry):
    [problem] = unbacked_suppressions({"checkov.io/skip1": "CKV_K8S_21=W-0001"}, STICKY, registry, TODAY)
    assert "W-0001 does not waive CKV_K8S_21" in problem.message


def test_skip_or_marker_by_a_waiver_for_another_resource_is_unbacked(registry):
    other = ResourceRef(stack="dev", kind="Service", namespace="payments", name="session-store")
    problems = unbacked_suppressions({"checkov.io/skip1": "CKV_STL_1=W-0001",
                                      "stateless-pack.io/waivers": "W-0001"}, other, registry, TODAY)
    assert len(problems) == 2
    assert all("W-0001 does not cover Service/payments/session-store" in m for m in messages(problems))


def test_suppression_backed_by_an_expired_waiver_is_unbacked(registry):
    annotations = {"checkov.io/skip1": "CKV_STL_1=W-0003", "stateless-pack.io/waivers": "W-0003"}
    assert unbacked_suppressions(annotations, CHECKOUT, registry, date(2026, 11, 30)) == []
    problems = unbacked_suppressions(annotations, CHECKOUT, registry, TODAY)
    assert len(problems) == 2 and all("W-0003 expired on 2026-11-30" in m for m in messages(problems))


def test_with_an_invalid_registry_no_suppression_is_backed(registry):
    annotations = {"checkov.io/skip1": "CKV_STL_1=W-0001", "stateless-pack.io/waivers": "W-0001"}
    problems = unbacked_suppressions(annotations, STICKY, None, TODAY)
    assert len(problems) == 2 and all("registry is invalid" in m for m in messages(problems))


def test_unknown_annotations_during_preview_are_reported_as_unknown(registry):
    [whole] = unbacked_suppressions(UNKNOWN, STICKY, registry, TODAY)
    [one] = unbacked_suppressions({"checkov.io/skip1": UNKNOWN}, STICKY, registry, TODAY)
    assert whole.unknown and one.unknown
    assert unbacked_suppressions({"other": UNKNOWN}, STICKY, registry, TODAY) == []


def test_non_text_suppression_value_is_unbacked(registry):
    [problem] = unbacked_suppressions({"stateless-pack.io/waivers": ["W-0001"]}, STICKY, registry, TODAY)
    assert "non-text value" in problem.message and not problem.unknown


def test_no_suppressions_no_problems(registry):
    assert unbacked_suppressions({}, STICKY, registry, TODAY) == []
    assert unbacked_suppressions(None, STICKY, registry, TODAY) == []


def test_pod_template_suppressions_are_checked_too(registry):
    deployment = {
        "kind": "Deployment", "metadata": {"name": "legacy-web", "namespace": "shop",
                                           "annotations": {"checkov.io/skip1": "CKV_K8S_22=W-0002"}},
        "spec": {"template": {"metadata": {"annotations": {"checkov.io/skip1": "CKV_K8S_8=W-0002"}},
                              "spec": {"containers": []}}},
    }
    [problem] = manifest_unbacked_suppressions(deployment, LEGACY, registry, TODAY)
    assert problem.path == 'spec.template.metadata.annotations["checkov.io/skip1"]'
    assert "W-0002 does not waive CKV_K8S_8" in problem.message
    assert named_waiver_ids(deployment) == {"W-0002"}


def test_cronjob_pod_template_path():
    cronjob = {"kind": "CronJob", "metadata": {"name": "x"}, "spec": {"jobTemplate": {"spec": {
        "template": {"metadata": {"annotations": {"stateless-pack.io/waivers": "W-0404"}}}}}}}
    [problem] = manifest_unbacked_suppressions(cronjob, ResourceRef(kind="CronJob", name="x"), None, TODAY)
    assert problem.path == 'spec.jobTemplate.spec.template.metadata.annotations["stateless-pack.io/waivers"]'


def test_a_field_the_resource_does_not_know_never_matches_even_a_star(tmp_path):
    """A Checkov finding from a plain YAML file has no stack/URN: `stack: "*"` must not cover it."""
    path = tmp_path / "waivers.yaml"
    path.write_text("""version: 1
waivers:
  - id: W-0001
    rules: [CKV_K8S_22]
    scope: {stack: "*", namespace: shop, name: legacy-web}
    reason: r
    approved_by: lead@example.org
    approver_role: platform-lead
    reference: OPS-1
    created: 2026-11-01
    expires: 2026-12-31
""")
    registry = load_registry(path, load_approvers(FIXTURES / "approvers.yaml"), today=TODAY)
    assert registry.covering(["CKV_K8S_22"], LEGACY, TODAY).id == "W-0001"
    without_stack = ResourceRef(kind="Deployment", namespace="shop", name="legacy-web")
    assert registry.covering(["CKV_K8S_22"], without_stack, TODAY) is None
