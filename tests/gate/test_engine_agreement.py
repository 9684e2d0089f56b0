"""gate/engine_agreement.py: one finding per violation with every engine that found it; where our
rules and Checkov's CKV_STL checks judged the same resource differently, a blocking finding."""
from __future__ import annotations

import json

from stateless_pack.gate.checkov.findings import by_location, checkov_findings, judged_by_our_checks
from stateless_pack.gate.checkov.runner import CheckovScan, Suppression
from stateless_pack.gate.engine_agreement import combine
from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.rule_findings import rule_findings
from stateless_pack.policies.waivers.model import ResourceRef

STICKY = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
          "spec": {"sessionAffinity": "ClientIP", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
CLEAN = {**STICKY, "metadata": {"name": "clean", "namespace": "shop"}, "spec": {"selector": {"app": "web"}}}


def subject(manifest, file, partial=False) -> Subject:
    return Subject(manifest, ResourceRef.of_manifest(manifest), file=file, line=1, partial=partial)


def checkov_fails(s: Subject, rule="no-sticky-service", checkov_id="CKV_STL_1", path="spec.sessionAffinity"):
    """What the runner makes of a FAILED record of our check on `s`."""
    return Finding(rule=rule, engine="checkov", level="mandatory", resource=s.ref.display, message="x",
                   path=path, file=s.file, line=s.line, checkov_id=checkov_id)


def combined(subjects, failed, *, unevaluated=(), suppressions=()):
    scan = CheckovScan(findings=failed, suppressions=list(suppressions), unevaluated=list(unevaluated))
    located = by_location(subjects)
    return combine(rule_findings(subjects, engine="rules"), checkov_findings(scan, located),
                   judged_by_our_checks(scan, located), engine="rules")


def rows(findings):
    return sorted((f.rule, f.engines, f.resource, f.blocking) for f in findings)


def test_a_violation_both_engines_find_is_one_finding_with_both(tmp_path):
    web = subject(STICKY, str(tmp_path / "web.yaml"))
    found = combined([web], [checkov_fails(web)])
    assert rows(found) == [("no-sticky-service", ("rules", "checkov"), "Service/shop/web", True)]
    assert found[0].path == "spec.sessionAffinity" and found[0].to_dict()["engines"] == ["rules", "checkov"]


def test_a_violation_only_our_rules_find_on_a_resource_checkov_judged_is_a_disagreement(tmp_path):
    web = subject(STICKY, str(tmp_path / "web.yaml"))
    found = combined([web], [])
    assert rows(found) == [("engines-disagree", ("rules", "checkov"), "Service/shop/web", True),
                           ("no-sticky-service", ("rules",), "Service/shop/web", True)]
    disagreement = next(f for f in found if f.rule == "engines-disagree")
    assert "no-sticky-service and CKV_STL_1 disagree" in disagreement.message
    assert "our rule finds a violation" in disagreement.message and "Checkov does not" in disagreement.message
    assert disagreement.subject == web.ref and disagreement.path == "spec.sessionAffinity"


def test_a_violation_only_checkov_finds_is_reported_and_a_disagreement(tmp_path):
    clean = subject(CLEAN, str(tmp_path / "clean.yaml"))
    found = combined([clean], [checkov_fails(clean)])
    assert rows(found) == [("engines-disagree", ("rules", "checkov"), "Service/shop/clean", True),
                           ("no-sticky-service", ("checkov",), "Service/shop/clean", True)]
    assert "Checkov finds a violation" in next(f.message for f in found if f.rule == "engines-disagree")


def test_where_checkov_did_not_run_the_rule_our_finding_stands_alone(tmp_path):
    dropped = subject(STICKY, str(tmp_path / "dropped.yaml"))
    skipped = subject({**STICKY, "metadata": {"name": "skipped", "namespace": "shop"}}, str(tmp_path / "skipped.yaml"))
    patch = subject({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "patched", "namespace": "shop"},
                     "spec": {"sessionAffinity": "ClientIP"}}, str(tmp_path / "patch.yaml"), partial=True)
    skip = Suppression(rule="no-sticky-service", checkov_id="CKV_STL_1", resource="Service/shop/skipped",
                       file=skipped.file, comment="W-1", line=1)
    found = combined([dropped, skipped, patch], [], unevaluated=[(dropped.file, 1)], suppressions=[skip])
    assert not any(f.rule == "engines-disagree" for f in found)
    ours = [f for f in found if f.engine == "rules"]
    assert {(f.resource, f.engines) for f in ours} == {
        ("Service/shop/web", ("rules",)), ("Service/shop/skipped", ("rules",)), ("Service/shop/patched", ("rules",))}


def test_two_resources_of_one_name_in_two_files_are_not_merged(tmp_path):
    one, two = subject(STICKY, str(tmp_path / "one.yaml")), subject(STICKY, str(tmp_path / "two.yaml"))
    found = combined([one, two], [checkov_fails(one)])  # Checkov found it in one file only
    assert sorted((f.rule, f.file, f.engines) for f in found) == [
        ("engines-disagree", two.file, ("rules", "checkov")),
        ("no-sticky-service", one.file, ("rules", "checkov")),
        ("no-sticky-service", two.file, ("rules",))]


def test_every_violation_of_a_rule_gets_the_engines_of_checkovs_one_finding_for_the_check(tmp_path):
    edge = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "edge", "namespace": "shop", "annotations": {
                "nginx.ingress.kubernetes.io/affinity": "cookie",
                "haproxy.org/cookie-persistence": "sticky"}}}
    s = subject(edge, str(tmp_path / "edge.yaml"))
    ours = [f for f in rule_findings([s], engine="rules") if f.rule == "no-sticky-edge"]
    assert len(ours) == 2
    found = combined([s], [checkov_fails(s, "no-sticky-edge", "CKV_STL_2", ", ".join(f.path for f in ours))])
    sticky = [f for f in found if f.rule == "no-sticky-edge"]
    assert [f.engines for f in sticky] == [("rules", "checkov")] * 2
    assert json.loads(json.dumps([f.to_dict() for f in sticky]))[0]["engines"] == ["rules", "checkov"]


def test_an_exact_repeat_is_reported_once(tmp_path):
    web = subject(STICKY, str(tmp_path / "web.yaml"))
    twice = rule_findings([web], engine="rules") * 2
    assert len(combine(twice, [], set(), engine="rules")) == 1
