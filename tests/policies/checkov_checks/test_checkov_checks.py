"""Our Checkov checks, tested Checkov's way: its Kubernetes runner over the shared rule fixtures.

Checkov cannot be imported here (it lives in its own environment), so `tests/support/checkov_probe.py` runs in
that venv: one subprocess for the whole suite, but a fresh check registry and a fresh `Runner` per
fixture file. Every fixture of every resource rule must give exactly the `# expect:` verdicts.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from stateless_pack.gate.checkov.runner import OUR_CHECKS_DIR as CHECKS_DIR
from stateless_pack.policies.catalog import rule_by_name, rules
from stateless_pack.policies.manifest import POD_TEMPLATES
from support.paths import REPO, checkov_bin, checkov_python
from support.rule_fixtures import fixture_id, load_fixtures, resource_id

PROBE = REPO / "tests" / "support" / "checkov_probe.py"

RESOURCE_FIXTURES = [f for f in load_fixtures() if not f.rule.stack]


def probe(*files: Path) -> dict[str, dict]:
    """Checkov's verdicts per file (absolute path -> {"records": [...], "parsing_errors": [...]})."""
    done = subprocess.run([str(checkov_python()), str(PROBE), str(CHECKS_DIR), *map(str, files)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["file"] for r in results] == [str(f) for f in files]
    return {r["file"]: r for r in results}


def kind_and_name(checkov_resource: str) -> str:
    """Checkov's `Kind.namespace.name` -> the fixtures' `Kind/name`."""
    kind, _namespace, name = checkov_resource.split(".", 2)
    return f"{kind}/{name}"


@pytest.fixture(scope="module")
def suite_results():
    return probe(*(f.path for f in RESOURCE_FIXTURES))


def test_every_resource_rule_has_fixtures():
    covered = {f.rule.name for f in RESOURCE_FIXTURES}
    assert covered == {r.name for r in rules() if not r.stack}


@pytest.mark.parametrize("fixture", RESOURCE_FIXTURES, ids=fixture_id)
def test_checkov_verdicts_match_the_fixture(fixture, suite_results):
    result = suite_results[str(fixture.path)]
    assert result["parsing_errors"] == []
    ours = [r for r in result["records"] if r["check_id"] == fixture.rule.checkov_id]
    # Exactly one verdict per resource the rule judges (its kinds, any workload for a pod-template
    # rule: Checkov hands custom kinds to our checks too), none on others.
    in_scope = sorted(resource_id(d) for d in fixture.documents if fixture.rule.judges(d))
    assert sorted(kind_and_name(r["resource"]) for r in ours) == in_scope
    failed = {kind_and_name(r["resource"]) for r in ours if r["result"] == "FAILED"}
    assert failed == {resource for resource, _ in fixture.expected}
    assert all(r["result"] in ("PASSED", "FAILED") for r in ours)
    # The offending fields travel as Checkov's evaluated keys.
    reported = {(kind_and_name(r["resource"]), key) for r in ours if r["result"] == "FAILED"
                for key in r["evaluated_keys"]}
    assert reported == set(fixture.expected)
    if not fixture.must_fail:  # (a pass file may hold only kinds the rule ignores: no verdict at all)
        assert all(r["result"] == "PASSED" for r in ours)


SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
{extra}spec:
  selector: {{app: web}}
  sessionAffinity: ClientIP
  ports: [{{port: 80, targetPort: 8080}}]
"""


def verdicts(tmp_path: Path, name: str, text: str) -> set:
    path = tmp_path / name
    path.write_text(text)
    return {(r["check_id"], r["resource"], r["result"], r["suppress_comment"])
            for r in probe(path)[str(path)]["records"]}


def test_builtin_checks_run_alongside_ours(tmp_path):
    # No namespace: Checkov's own CKV_K8S_21 fails next to our CKV_STL_1.
    found = verdicts(tmp_path, "svc.yaml", SERVICE.format(extra=""))
    assert ("CKV_K8S_21", "Service.default.web", "FAILED", "") in found
    assert ("CKV_STL_1", "Service.default.web", "FAILED", "") in found


def test_skip_annotation_makes_checkov_report_skipped(tmp_path):
    extra = "  namespace: shop\n  annotations:\n    checkov.io/skip1: CKV_STL_1=W-0001\n"
    found = verdicts(tmp_path, "svc.yaml", SERVICE.format(extra=extra))
    assert ("CKV_STL_1", "Service.shop.web", "SKIPPED", "W-0001") in found
    assert not any(check == "CKV_STL_1" and result != "SKIPPED" for check, _, result, _ in found)


def test_skipping_another_check_does_not_skip_ours(tmp_path):
    extra = "  annotations:\n    checkov.io/skip1: CKV_K8S_21=W-0002\n"
    found = verdicts(tmp_path, "svc.yaml", SERVICE.format(extra=extra))
    assert ("CKV_K8S_21", "Service.default.web", "SKIPPED", "W-0002") in found
    assert ("CKV_STL_1", "Service.default.web", "FAILED", "") in found


def in_checkov_venv(code: str):
    """Run `code` in Checkov's environment with our check module loaded; it prints one JSON value."""
    prelude = textwrap.dedent(f"""\
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("stateless_pack_checks",
                                                      {str(CHECKS_DIR / 'stateless_pack_checks.py')!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        """)
    done = subprocess.run([str(checkov_python()), "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_check_class_per_resource_rule_and_none_for_stack_rules():
    checks = in_checkov_venv("""\
        print(json.dumps([[type(c).__name__, c.id, c.name, sorted(c.supported_entities),
                           [cat.name for cat in c.categories], c.guideline] for c in module.CHECKS]))
        """)
    expected = [r for r in rules() if not r.stack]
    assert [c[1] for c in checks] == [r.checkov_id for r in expected]
    assert len({c[0] for c in checks}) == len(checks)  # its own class each
    for (_cls, checkov_id, name, kinds, categories, guideline), rule in zip(checks, expected):
        entities = ["*"] if POD_TEMPLATES in rule.kinds else sorted(rule.kinds)
        assert (name, kinds, guideline) == (rule.description, entities, rule.remediation)
        assert categories and set(categories) <= {"KUBERNETES", "GENERAL_SECURITY"}
    stack_ids = {r.checkov_id for r in rules() if r.stack}
    assert not stack_ids & {c[1] for c in checks}


def test_checks_see_the_manifest_without_checkovs_additions():
    # Checkov adds line keys everywhere and turns annotations into a list of one-key mappings.
    seen = in_checkov_venv("""\
        conf = {"kind": "Service", "__startline__": 1, "__endline__": 9,
                "metadata": {"name": "web", "__startline__": 2, "__endline__": 5,
                             "annotations": [{"a": "1"}, {"b": "2"}]},
                "spec": {"ports": [{"port": 80, "__startline__": 7, "__endline__": 7}]}}
        print(json.dumps(module.manifest_from_checkov(conf)))
        """)
    assert seen == {"kind": "Service", "metadata": {"name": "web", "annotations": {"a": "1", "b": "2"}},
                    "spec": {"ports": [{"port": 80}]}}


def test_a_rule_reading_annotations_sees_them_through_checkov(tmp_path):
    """Rules that read annotations must still see them after Checkov collected its skip annotations."""
    if "no-sticky-edge" not in {r.name for r in rules()}:
        pytest.skip("no-sticky-edge (an Ingress annotation rule) is not in the catalog yet")
    rule = rule_by_name("no-sticky-edge")
    ingress = textwrap.dedent("""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: edge
          namespace: shop
          annotations:
            checkov.io/skip1: CKV_K8S_21=W-0003
            nginx.ingress.kubernetes.io/affinity: cookie
        spec:
          ingressClassName: nginx
          rules: [{host: shop.example.org, http: {paths: [{path: /, pathType: Prefix,
                   backend: {service: {name: web, port: {number: 80}}}}]}}]
        """)
    found = verdicts(tmp_path, "ingress.yaml", ingress)
    assert (rule.checkov_id, "Ingress.shop.edge", "FAILED", "") in found


def run_checkov_cli(cwd: Path, home: Path, *args: str) -> set:
    """Checkov's own command, as a user runs it; {(check id, resource, result)}."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CKV_", "BC_"))},
           "HOME": str(home), "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    done = subprocess.run([str(checkov_bin()), "-o", "json", *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd, env=env)
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: some check failed
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return {(r["check_id"], r["resource"], r["check_result"]["result"])
            for rep in reports for kind in ("passed_checks", "failed_checks")
            for r in rep.get("results", {}).get(kind, [])}


def test_checkov_run_directly_with_our_config_uses_our_checks(tmp_path):
    fixture = REPO / "tests" / "fixtures" / "rules" / "no-sticky-service" / "fail-client-ip.yaml"
    # From the repository root Checkov picks up .checkov.yaml by itself ...
    found = run_checkov_cli(REPO, tmp_path, "-f", str(fixture))
    assert ("CKV_STL_1", "Service.shop.web", "FAILED") in found
    # ... and elsewhere only when pointed at it; without it, our checks are not there.
    assert ("CKV_STL_1", "Service.shop.web", "FAILED") not in run_checkov_cli(tmp_path, tmp_path, "-f", str(fixture))


ROLLOUT_AND_CONFIG = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: shop/web:1.0}]
      volumes: [{name: uploads, hostPath: {path: /srv/uploads}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: shop}
data: {LOG_LEVEL: info}
"""


def test_checkov_hands_a_custom_workload_kind_to_our_pod_template_checks(tmp_path):
    """Checkov picks checks by kind: ours for pod templates are registered for every kind, judge the
    Rollout's template and leave no verdict on what carries none (the ConfigMap)."""
    found = verdicts(tmp_path, "rollout.yaml", ROLLOUT_AND_CONFIG)
    pod_rules = {r.checkov_id for r in rules() if not r.stack and POD_TEMPLATES in r.kinds}
    assert (rule_by_name("no-host-path").checkov_id, "Rollout.shop.web", "FAILED", "") in found
    assert {check for check, resource, _, _ in found if resource == "Rollout.shop.web"} >= pod_rules
    only_pods = {r.checkov_id for r in rules() if not r.stack and r.kinds == {POD_TEMPLATES}}
    assert only_pods and not only_pods & {check for check, resource, _, _ in found if resource == "ConfigMap.shop.web"}
