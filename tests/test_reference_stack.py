"""The reference stack (Pulumi.yaml, Pulumi.dev.yaml, __main__.py at the repo root), run under mocks.

It must pass every rule of the catalog with no waiver at all (waivers.yaml is empty: the paved
road's own defaults need no exception), carry no waiver marker, and render manifests that the
Kubernetes JSON schemas accept (strict: no unknown fields).
"""
from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from stateless_pack.gate.program.runner import run_program
from stateless_pack.gate.program.values import redact, reveal
from stateless_pack.policies.catalog import rules
from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.loading import load_approvers, load_registry
from stateless_pack.policies.waivers.model import ResourceRef
from support.paths import REPO as REPO_ROOT
from support.paths import checkov_bin

ROOT = REPO_ROOT
STACK = "dev"
K8S_VERSION = "1.33.0"  # a current release; kubernetes-validate 1.37 ships its schemas
# Custom resources have no schema in kubernetes-validate (it ships only the built-in API groups);
# their shape is covered by the component tests and the bucket rule.
CUSTOM_KINDS = {"ObjectBucketClaim", "BucketClaim", "BucketAccess"}


@pytest.fixture(scope="module")
def stack():
    return run_program(ROOT, stack=STACK)


@pytest.fixture(scope="module")
def manifests(stack):
    return [reveal(r.inputs) for r in _kubernetes(stack)]


@pytest.fixture(scope="module")
def registry():
    return load_registry(ROOT / "waivers.yaml", load_approvers(), today=date.today())


def _kubernetes(stack) -> list:
    """The registered Kubernetes objects (not components, providers or the stack)."""
    return [r for r in stack.resources
            if r.custom and r.type.startswith("kubernetes:") and isinstance(r.inputs.get("kind"), str)]


def _ref(manifest) -> ResourceRef:
    return ResourceRef.of_manifest(manifest, stack=STACK)


def _findings(manifests) -> list:
    """(rule, manifest, violation) for every rule of the catalog, resource and stack rules."""
    found = []
    for rule in rules():
        if rule.stack:
            found += [(rule, manifests[i], v) for i, v in rule.run(manifests)]
        else:
            found += [(rule, m, v) for m in manifests for v in rule.run(m)]
    return found


def test_the_stack_is_built_from_the_components(stack):
    by_type = {r.type: r for r in stack.resources}
    components = {t for t in by_type if t.startswith("stateless-pack:components:")}
    assert components == {"stateless-pack:components:Application",
                          "stateless-pack:components:RedisSessionStore",
                          "stateless-pack:components:ObjectBucket"}
    component_urns = {r.urn for r in stack.resources if r.type in components}
    for r in _kubernetes(stack):
        if r.inputs["kind"] != "Namespace":
            assert r.parent in component_urns, f"{r.type} {r.name} is not inside a component"


def test_one_namespace(manifests):
    namespaced = [m for m in manifests if m["kind"] != "Namespace"]
    assert {m["metadata"]["namespace"] for m in namespaced} == {"shop"}


def test_the_registry_is_valid_and_empty(registry):
    # Every waiver is a decision someone must re-approve: the paved road's own stack needs none.
    assert list(registry.waivers) == []


def test_no_violation_except_the_waived_ones(manifests, registry):
    today = date.today()
    unwaived, used = [], set()
    for rule, manifest, violation in _findings(manifests):
        waiver = registry.covering((rule.name, rule.checkov_id), _ref(manifest), today)
        if waiver is None:
            unwaived.append(f"{rule.name}: {_ref(manifest)} {violation.path}: {violation.message}")
        else:
            used.add(waiver.id)
    assert unwaived == []
    assert used == {w.id for w in registry.waivers}, "a waiver that nothing needs must be removed"


def test_no_rule_finds_anything(manifests):
    findings = [(rule.name, _ref(m).kind, _ref(m).name) for rule, m, v in _findings(manifests)]
    assert findings == []


def test_the_session_store_is_replicated_without_volumes(manifests):
    replicas = {m["metadata"]["name"]: m["spec"]["replicas"] for m in manifests if m["kind"] == "Deployment"}
    assert replicas == {"sessions-redis": 3, "sessions-sentinel": 3, "web": 2}
    assert not [m for m in manifests if m["kind"] in ("StatefulSet", "PersistentVolumeClaim", "DaemonSet")]
    budgets = {m["metadata"]["name"] for m in manifests if m["kind"] == "PodDisruptionBudget"}
    assert budgets == {"sessions-redis", "sessions-sentinel", "web"}


def test_every_waiver_marker_is_backed(manifests, registry):
    problems = [v for m in manifests
                for v in WaiverPass(registry, [], date.today()).unbacked(m, _ref(m))]
    assert problems == []
    marked = [m["metadata"]["name"] for m in manifests
              if "stateless-pack.io/waivers" in (m["metadata"].get("annotations") or {})]
    assert marked == []


def test_the_redis_password_reaches_no_manifest_but_its_secret(stack, manifests):
    password = stack.config["stateless-pack-reference:redisPassword"]
    secrets = [r for r in _kubernetes(stack) if r.inputs["kind"] == "Secret"]
    assert [r.name for r in secrets] == ["sessions-auth"]
    for m in manifests:
        if m["kind"] != "Secret":
            assert password not in json.dumps(m), f"{m['kind']}/{m['metadata']['name']} holds the password"
    assert password not in json.dumps(redact(secrets[0].inputs))


@pytest.mark.parametrize("version", [K8S_VERSION, kubernetes_validate.latest_version()])
def test_manifests_validate_against_the_kubernetes_schemas(manifests, version):
    checked = 0
    for m in manifests:
        if m["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(m, version, strict=True)  # raises with the offending field
        checked += 1
    assert checked == len(manifests) - sum(m["kind"] in CUSTOM_KINDS for m in manifests) > 5


def test_schema_validation_catches_a_bad_field(manifests):
    # The validation above must be able to fail: an unknown field and a wrong type are rejected.
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    bad = json.loads(json.dumps(deployment))
    bad["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True  # typo'd key
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    bad = json.loads(json.dumps(deployment))
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_checkov_built_in_checks_pass(stack, tmp_path, registry):
    """Checkov's own Kubernetes checks (CKV_K8S_*, CKV2_K8S_*) over the rendered manifests."""
    docs = [redact(r.inputs) for r in _kubernetes(stack)]
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    proc = subprocess.run(
        [str(checkov_bin()), "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download",
         "-o", "json", "--quiet"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    report = json.loads(proc.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failed, skipped = [], []
    for r in reports:
        failed += [(c["check_id"], c["resource"]) for c in r.get("results", {}).get("failed_checks", [])]
        skipped += [(c["check_id"], c["resource"]) for c in r.get("results", {}).get("skipped_checks", [])]
    assert reports and any(r.get("results") for r in reports), f"no Checkov results:\n{proc.stderr[-2000:]}"
    assert failed == []
    assert skipped == [], "the stack relies on no Checkov skips of built-in checks"
