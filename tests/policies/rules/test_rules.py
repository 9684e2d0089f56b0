"""The rule catalog, driven by the shared fixtures, plus preview-unknown and config behaviour."""
from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stateless_pack.gate.checkov.runner import OUR_CHECKS_DIR
from stateless_pack.policies.catalog import MANDATORY, Violation, rule_by_name, rules
from stateless_pack.policies.manifest import UNKNOWN, WORKLOAD_KINDS
from support.paths import REPO as REPO_ROOT
from support.paths import checkov_python
from support.rule_fixtures import FIXTURES_DIR, fixture_id, load_fixtures, resource_id, violations_of

REPO = REPO_ROOT
FIXTURES = load_fixtures()


@pytest.mark.parametrize("fixture", FIXTURES, ids=fixture_id)
def test_fixture_yields_exactly_the_expected_violations(fixture):
    assert violations_of(fixture) == fixture.expected


@pytest.mark.parametrize("fixture", FIXTURES, ids=fixture_id)
def test_fixture_violations_are_definite_and_explained(fixture):
    """Fixtures hold known values: no "cannot verify" result, and every message says something."""
    docs = fixture.documents
    found = ([v for _, v in fixture.rule.run(docs)] if fixture.rule.stack
             else [v for doc in docs for v in fixture.rule.run(doc)])
    assert all(not v.unknown and len(v.message) > 20 for v in found), found


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.name)
def test_every_rule_has_fail_pass_and_near_miss_fixtures(rule):
    mine = [f for f in FIXTURES if f.rule is rule]
    assert any(f.must_fail for f in mine), f"{rule.name}: no fail-* fixture"
    assert any(not f.must_fail for f in mine), f"{rule.name}: no pass-* fixture"
    assert any(f.is_near_miss for f in mine), f"{rule.name}: no *near-miss* fixture"


def test_every_fixture_folder_names_a_rule():
    folders = {p.name for p in FIXTURES_DIR.iterdir() if p.is_dir()}
    assert folders == {r.name for r in rules()}


def test_catalog_metadata_is_complete_and_stable():
    catalog = rules()
    assert [r.checkov_id for r in catalog] == [f"CKV_STL_{n}" for n in range(1, len(catalog) + 1)]
    assert len({r.name for r in catalog}) == len(catalog)
    for r in catalog:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", r.name), r.name
        assert r.category in {"sessions", "storage", "resilience", "data-store"}
        assert r.level == MANDATORY
        assert r.description.strip() and r.remediation.strip() and r.kinds
        assert all("default" in schema and "type" in schema for schema in r.config_schema.values())
    assert {r.name for r in catalog if r.stack} == {"min-replicas", "pdb-coverage", "no-local-session-config"}
    assert {r.name for r in catalog if r.waiver_approver == "head-of-devops"} == {
        "no-sticky-service", "no-sticky-edge"}


POD_TEMPLATE_RULES = ["no-local-session-store", "no-host-path", "no-persistent-volume-claims",
                      "read-only-root-filesystem", "readiness-probe", "redis-auth", "no-literal-credentials",
                      "allowed-volume-types", "redis-not-exposed"]


def _wrap(pod_spec: dict, kind: str) -> dict:
    """The same pod spec where `kind` keeps it."""
    template = {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec}
    spec = {"Pod": pod_spec,
            "CronJob": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}}.get(
        kind, {"selector": {"matchLabels": {"app": "x"}}, "template": template})
    return {"kind": kind, "metadata": {"name": "x", "namespace": "shop"}, "spec": copy.deepcopy(spec)}


@pytest.mark.parametrize("rule_name", POD_TEMPLATE_RULES)
@pytest.mark.parametrize("kind", sorted(WORKLOAD_KINDS - {"ReplicationController"}))
def test_pod_template_rules_fire_on_every_workload_kind_in_pulumi_input_shape(rule_name, kind):
    """The pod spec of the rule's first fail fixture, moved into each workload kind, without apiVersion."""
    rule = rule_by_name(rule_name)
    fixture = next(f for f in FIXTURES if f.rule is rule and f.must_fail
                   and any(d.get("kind") == "Deployment" for d in f.documents))
    source = next(d for d in fixture.documents if d.get("kind") == "Deployment")
    expected_count = len([p for r, p in fixture.expected if r == resource_id(source)])
    moved = _wrap(source["spec"]["template"]["spec"], kind)
    assert "apiVersion" not in moved
    assert len(rule.run(moved)) == expected_count > 0


# --- preview unknowns: decisive -> unknown=True violation, irrelevant -> nothing ---------------

def _doc(fixture_path: str, index: int = 0) -> dict:
    return list(yaml.safe_load_all((FIXTURES_DIR / fixture_path).read_text()))[index]


def _set(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    cur = doc
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return doc


POD = ("spec", "template", "spec")
UNKNOWN_CASES = [
    # rule, pass fixture, document index, decisive field, irrelevant field
    ("no-sticky-service", "no-sticky-service/pass-none.yaml", 0,
     ("spec", "sessionAffinity"), ("spec", "selector")),
    ("no-sticky-edge", "no-sticky-edge/pass-round-robin.yaml", 0,
     ("metadata", "annotations"), ("spec", "ingressClassName")),
    ("no-sticky-edge", "no-sticky-edge/pass-round-robin.yaml", 2,
     ("spec", "trafficPolicy", "loadBalancer"), ("spec", "host")),
    ("no-local-session-store", "no-local-session-store/pass-shared-stores.yaml", 0,
     POD + ("containers", 1, "env", 0, "value"), POD + ("containers", 1, "image")),
    ("no-host-path", "no-host-path/pass-emptydir-and-nfs-pv.yaml", 0,
     ("spec", "template", "spec", "volumes"), ("spec", "template", "spec", "restartPolicy")),
    ("no-host-path", "no-host-path/pass-emptydir-and-nfs-pv.yaml", 1,
     ("spec",), ("metadata", "labels")),
    ("no-persistent-volume-claims", "no-persistent-volume-claims/pass-statefulset-without-claims.yaml", 0,
     POD + ("volumes", 0), POD + ("containers", 0, "image")),
    ("read-only-root-filesystem", "read-only-root-filesystem/pass-read-only-with-bounded-tmp.yaml", 0,
     ("spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "securityContext",
      "readOnlyRootFilesystem"), ("spec", "schedule")),
    ("approved-bucket-storage-class", "approved-bucket-storage-class/pass-dit-s3.yaml", 0,
     ("spec", "storageClassName"), ("spec", "generateBucketName")),
    ("readiness-probe", "readiness-probe/pass-near-miss-worker-without-ports.yaml", 0,
     POD + ("containers", 0, "ports"), POD + ("containers", 0, "image")),
    ("redis-auth", "redis-auth/pass-conf-from-secret-and-requirepass.yaml", 0,
     POD + ("volumes", 0), POD + ("containers", 0, "volumeMounts", 0, "readOnly")),
    ("redis-auth", "redis-auth/pass-near-miss-redis-exporter.yaml", 0,
     POD + ("containers", 1, "image"), POD + ("containers", 0, "env", 0, "value")),
    ("redis-not-exposed", "redis-not-exposed/pass-cluster-ip.yaml", 0,
     ("spec", "type"), ("metadata", "namespace")),
    # any env value may turn out to be a URL carrying a password: only a non-env field is irrelevant
    ("no-literal-credentials", "no-literal-credentials/pass-near-miss-credential-ish-names.yaml", 0,
     POD + ("containers", 0, "env", 4, "value"), POD + ("containers", 0, "image")),
    ("no-literal-credentials", "no-literal-credentials/pass-near-miss-config-map-placeholders.yaml", 0,
     ("data", "REDIS_URL"), ("metadata", "labels")),
    ("allowed-volume-types", "allowed-volume-types/pass-allowlisted-volumes.yaml", 0,
     POD + ("volumes", 5, "csi", "driver"), POD + ("volumes", 1, "configMap")),
    ("allowed-volume-types", "allowed-volume-types/pass-allowlisted-volumes.yaml", 0,
     POD + ("volumes",), POD + ("containers", 0, "image")),
    ("no-bare-pods", "no-bare-pods/pass-controller-owned-pods.yaml", 0,
     ("metadata", "ownerReferences", 0, "controller"), ("spec", "containers", 0, "image")),
    ("readiness-probe", "readiness-probe/pass-native-sidecar-probed.yaml", 0,
     POD + ("initContainers", 0, "readinessProbe"), POD + ("initContainers", 1, "restartPolicy")),
    ("redis-auth", "redis-auth/pass-ha-placeholder-pattern.yaml", 0,
     POD + ("initContainers", 0, "env", 1, "valueFrom"), POD + ("initContainers", 0, "env", 0, "value")),
    ("redis-auth", "redis-auth/pass-ha-placeholder-pattern.yaml", 0,
     POD + ("containers", 0, "volumeMounts"), POD + ("containers", 2, "image")),
    ("redis-not-exposed", "redis-not-exposed/pass-near-miss-node-ports-without-redis.yaml", 0,
     POD + ("containers", 0, "image"), POD + ("containers", 0, "ports", 0, "hostPort")),
    # settings carried by other values, and the command line, where any word may set a store
    ("no-local-session-store", "no-local-session-store/pass-near-miss-command-lines.yaml", 0,
     POD + ("containers", 0, "env", 0, "value"), POD + ("containers", 0, "image")),
    ("no-local-session-store", "no-local-session-store/pass-near-miss-command-lines.yaml", 2,
     POD + ("containers", 0, "command", 2), POD + ("containers", 1, "image")),
    ("no-sticky-edge", "no-sticky-edge/pass-near-miss-load-balancer-settings-nobody-honours.yaml", 1,
     ("metadata", "annotations", "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"),
     ("spec", "selector")),
    ("no-sticky-edge", "no-sticky-edge/pass-near-miss-load-balancer-settings-nobody-honours.yaml", 2,
     ("spec", "sessionAffinity", "affinityType"), ("spec", "timeoutSec")),
    ("no-sticky-edge", "no-sticky-edge/pass-near-miss-load-balancer-settings-nobody-honours.yaml", 4,
     ("spec", "routes", 1, "loadBalancerPolicy", "requestHashPolicies"), ("spec", "virtualhost")),
    ("no-sticky-edge", "no-sticky-edge/pass-near-miss-load-balancer-settings-nobody-honours.yaml", 5,
     ("spec", "loadBalancer", "type"), ("spec", "loadBalancer", "consistentHash")),
    ("no-literal-credentials", "no-literal-credentials/pass-near-miss-password-flags.yaml", 0,
     POD + ("containers", 0, "args", 3), POD + ("containers", 0, "image")),
]


@pytest.mark.parametrize("rule_name,fixture,index,decisive,irrelevant", UNKNOWN_CASES,
                         ids=[f"{c[0]}:{'.'.join(map(str, c[3][-2:]))}" for c in UNKNOWN_CASES])
def test_unknown_in_decisive_field_is_reported_as_unknown(rule_name, fixture, index, decisive, irrelevant):
    rule = rule_by_name(rule_name)
    doc = _doc(fixture, index)
    assert rule.run(doc) == []  # a passing document: the unknown alone makes the difference
    found = rule.run(_set(doc, decisive, UNKNOWN))
    assert found and all(v.unknown for v in found), found


@pytest.mark.parametrize("rule_name,fixture,index,decisive,irrelevant", UNKNOWN_CASES,
                         ids=[f"{c[0]}:{'.'.join(map(str, c[4][-2:]))}" for c in UNKNOWN_CASES])
def test_unknown_in_irrelevant_field_yields_nothing(rule_name, fixture, index, decisive, irrelevant):
    assert rule_by_name(rule_name).run(_set(_doc(fixture, index), irrelevant, UNKNOWN)) == []


def test_unknown_never_hides_a_definite_violation():
    """A sticky nginx annotation stays a real violation even when another annotation is unknown."""
    doc = _doc("no-sticky-edge/fail-ingress-nginx-cookie.yaml")
    doc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/session-cookie-name"] = UNKNOWN
    found = rule_by_name("no-sticky-edge").run(doc)
    assert [(v.path, v.unknown) for v in found] == [
        ('metadata.annotations["nginx.ingress.kubernetes.io/affinity"]', False)]


def _stack(path: str) -> list:
    return [d for d in yaml.safe_load_all((FIXTURES_DIR / path).read_text()) if d]


def test_stack_rule_unknown_hpa_target_makes_single_replica_deployment_unknown():
    docs = _stack("min-replicas/pass-replicas-and-hpa.yaml")
    assert rule_by_name("min-replicas").run(docs) == []
    docs[2]["spec"]["scaleTargetRef"]["name"] = UNKNOWN  # the HPA may or may not scale Deployment/api
    found = rule_by_name("min-replicas").run(docs)
    assert [(i, v.path, v.unknown) for i, v in found] == [(1, "spec.replicas", True)]


def test_stack_rule_unknown_pdb_selector_is_unknown_and_irrelevant_field_is_not():
    docs = _stack("pdb-coverage/pass-covered.yaml")
    rule = rule_by_name("pdb-coverage")
    assert rule.run(docs) == []
    irrelevant = copy.deepcopy(docs)
    irrelevant[3]["spec"]["maxUnavailable"] = UNKNOWN
    assert rule.run(irrelevant) == []
    docs[3]["spec"]["selector"] = UNKNOWN  # the PDB for Deployment/web
    found = rule.run(docs)
    # the catch-all PDB still covers web, so only an unknown selector that matters is reported
    assert found == []
    docs[4]["spec"]["selector"] = UNKNOWN
    found = rule.run(docs)
    assert {(i, v.unknown) for i, v in found} == {(0, True), (1, True)}


# --- configuration ---------------------------------------------------------------------------

def test_approved_storage_classes_come_from_config():
    rule = rule_by_name("approved-bucket-storage-class")
    doc = _doc("approved-bucket-storage-class/fail-unapproved-classes.yaml")
    assert [v.path for v in rule.run(doc)] == ["spec.storageClassName"]
    assert rule.run(doc, {"approvedStorageClasses": ["dit-s3", "rook-ceph-bucket"]}) == []
    assert rule.run(_doc("approved-bucket-storage-class/pass-dit-s3.yaml"), {"approvedStorageClasses": []})


def test_min_replicas_threshold_comes_from_config():
    docs = _stack("min-replicas/pass-replicas-and-hpa.yaml")
    rule = rule_by_name("min-replicas")
    assert rule.run(docs, {"minReplicas": 2}) == []
    found = rule.run(docs, {"minReplicas": 3})
    assert [(i, v.path) for i, v in found] == [(0, "spec.replicas")]
    found = rule.run(docs, {"minReplicas": 4})
    assert {(i, v.path) for i, v in found} == {(0, "spec.replicas"), (2, "spec.minReplicas")}


# --- secrets never show up in messages -------------------------------------------------------

@pytest.mark.parametrize("name", ["fail-literals.yaml", "fail-password-flags.yaml"])
def test_credential_values_never_appear_in_messages(name):
    fixture = next(f for f in FIXTURES if f.path.name == name)
    messages = " ".join(v.message for doc in fixture.documents for v in fixture.rule.run(doc))
    assert messages
    for secret in ("hunter2", "sk_live_abc123", "s3cr3t", "wJalrXUtnFEMI", "pa55", "ghp_abcdef", "changeit"):
        assert secret not in messages


def test_violations_name_the_offending_value():
    doc = _doc("no-local-session-store/fail-framework-local-stores.yaml", 1)
    [found] = rule_by_name("no-local-session-store").run(doc)
    assert "SESSION_TYPE=filesystem" in found.message
    doc = _doc("approved-bucket-storage-class/fail-unapproved-classes.yaml", 0)
    assert "rook-ceph-bucket" in rule_by_name("approved-bucket-storage-class").run(doc)[0].message


# --- the catalog in Checkov's environment ----------------------------------------------------

def test_catalog_imports_in_checkov_venv_without_pulumi():
    """Checkov's environment has neither Pulumi nor stateless-pack: our check file loads the catalog
    from the folder around it, and the catalog imports nothing of Pulumi."""
    checks = OUR_CHECKS_DIR / "stateless_pack_checks.py"
    code = ("import importlib.util, sys; "
            "from importlib.util import find_spec; assert find_spec('pulumi') is None, 'pulumi installed'; "
            f"spec = importlib.util.spec_from_file_location('checks', {str(checks)!r}); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "assert not any(m == 'pulumi' or m.startswith(('pulumi.', 'pulumi_')) for m in sys.modules); "
            "print(len(module.rules()))")
    result = subprocess.run([str(checkov_python()), "-c", code], cwd="/", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == len(rules())


# --- volumes by allowlist, bare pods, native sidecars ------------------------------------------

def test_allowed_csi_drivers_and_scratch_storage_classes_come_from_config():
    rule = rule_by_name("allowed-volume-types")
    doc = _doc("allowed-volume-types/fail-near-miss-ephemeral-and-csi.yaml")
    assert len(rule.run(doc)) == 4
    configured = {"scratchStorageClasses": ["fast-ssd"],
                  "allowedCsiDrivers": ["nfs.csi.k8s.io", "secrets-store.csi.k8s.io"]}
    # the default class is still not a configured scratch class; the lookalike driver is still unknown
    assert [v.path for v in rule.run(doc, configured)] == [
        "spec.template.spec.volumes[0].ephemeral", "spec.template.spec.volumes[3].csi"]
    allowed = _doc("allowed-volume-types/pass-allowlisted-volumes.yaml")
    assert rule.run(allowed) == []
    assert [v.path for v in rule.run(allowed, {"allowedCsiDrivers": []})] == ["spec.template.spec.volumes[5].csi"]


def test_single_instance_data_store_on_a_network_disk_is_blocked_for_instance_and_volume():
    """A bare Redis Pod with a Cinder disk (otherwise compliant) fails exactly two rules."""
    pod = _doc("no-bare-pods/fail-single-instance-data-store-on-network-disk.yaml")
    fired = {rule.name: [v.path for v in rule.run(pod)] for rule in rules() if not rule.stack}
    fired.update({rule.name: [v.path for _, v in rule.run([pod])] for rule in rules() if rule.stack})
    assert {name: paths for name, paths in fired.items() if paths} == {
        "no-bare-pods": ["metadata.ownerReferences"], "allowed-volume-types": ["spec.volumes[0].cinder"]}


@pytest.mark.parametrize("policy,expected", [("Always", "definite"), (UNKNOWN, "unknown"), ("OnFailure", None),
                                             (None, None)])
def test_an_init_container_serves_like_a_container_only_as_a_native_sidecar(policy, expected):
    doc = _doc("readiness-probe/fail-native-sidecar-without-probe.yaml")
    proxy = doc["spec"]["template"]["spec"]["initContainers"][1]
    if policy is None:
        del proxy["restartPolicy"]
    else:
        proxy["restartPolicy"] = policy
    found = rule_by_name("readiness-probe").run(doc)
    assert [("unknown" if v.unknown else "definite") for v in found] == ([expected] if expected else [])


# --- session settings from ConfigMaps and Secrets (stack rule) ---------------------------------

def test_session_config_unknown_data_is_unknown_for_its_readers_only():
    docs = _stack("no-local-session-config/pass-near-miss-overridden-prefixed-or-elsewhere.yaml")
    rule = rule_by_name("no-local-session-config")
    assert rule.run(docs) == []
    irrelevant = copy.deepcopy(docs)
    irrelevant[0]["metadata"]["labels"] = UNKNOWN
    assert rule.run(irrelevant) == []
    docs[0]["data"] = UNKNOWN  # the ConfigMap every Deployment in namespace shop reads
    found = rule.run(docs)
    assert {(resource_id(docs[i]), v.unknown) for i, v in found} == {
        ("Deployment/overridden", True), ("Deployment/prefixed", True), ("Deployment/keyref", True)}


def test_session_config_reference_to_an_unknown_name_is_unknown_and_a_missing_object_is_not_verified():
    docs = _stack("no-local-session-config/fail-php-ini.yaml")
    rule = rule_by_name("no-local-session-config")
    deployment = docs[3]
    deployment["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] = UNKNOWN
    found = {v.path: v.unknown for _, v in rule.run(docs)}
    assert found["spec.template.spec.volumes[0].configMap"] is True
    assert found["spec.template.spec.volumes[1].projected.sources[0].configMap"] is False
    # made outside the stack: the volume whose `items` show an ini file cannot be verified, so it fails;
    # the folders of unknown files do not
    found = [v for _, v in rule.run(docs[3:])]
    assert [(v.path, v.unknown) for v in found] == [("spec.template.spec.volumes[2].configMap", False)]
    assert "'php-settings' is not in the stack or scan" in found[0].message


def test_session_config_sources_not_in_the_input_fail_without_any_config_map_in_the_stack():
    """No ConfigMap or Secret in the input at all is no reason to pass the pods that read one."""
    docs = [d for d in _stack("no-local-session-config/fail-sources-not-in-the-input.yaml") if d["kind"] != "ConfigMap"]
    found = {(resource_id(docs[i]), v.path) for i, v in rule_by_name("no-local-session-config").run(docs)}
    assert ("Deployment/elsewhere", "spec.template.spec.containers[0].envFrom[0]") in found and len(found) == 6


def test_session_config_external_sources_come_from_config():
    docs = _stack("no-local-session-config/fail-sources-not-in-the-input.yaml")
    rule = rule_by_name("no-local-session-config")
    assert rule.defaults() == {"externalSources": []}
    vouched = {"externalSources": ["ConfigMap/shop/app-env", "Secret/*/*", "ConfigMap/*/php-*"]}
    assert sorted(v.path for _, v in rule.run(docs, vouched)) == [
        "spec.template.spec.containers[0].env[0].valueFrom"]  # laravel-settings is not vouched for
    assert rule.run(docs, {"externalSources": ["*"]}) == []


def test_session_config_is_judged_by_the_path_the_container_reads_a_file_at():
    docs = _stack("no-local-session-config/pass-near-miss-mount-paths-and-pools.yaml")
    rule = rule_by_name("no-local-session-config")
    assert rule.run(docs) == []
    nginx = docs[2]["spec"]["template"]["spec"]["containers"][0]
    nginx["volumeMounts"][0]["mountPath"] = "/usr/local/etc/php-fpm.d/custom.conf"  # now a pool
    [(_, found)] = rule.run(docs)
    assert found.path == "spec.template.spec.volumes[0].configMap"
    assert "mounted as /usr/local/etc/php-fpm.d/custom.conf" in found.message


def test_session_config_and_env_rule_never_report_the_same_setting():
    """A literal local store is the resource rule's; the stack rule reports only ConfigMap/Secret values."""
    docs = _stack("no-local-session-config/pass-near-miss-overridden-prefixed-or-elsewhere.yaml")
    keyref = next(d for d in docs if resource_id(d) == "Deployment/keyref")
    assert [v.path for v in rule_by_name("no-local-session-store").run(keyref)] == [
        "spec.template.spec.containers[0].env[1].value"]
    assert rule_by_name("no-local-session-config").run(docs) == []
