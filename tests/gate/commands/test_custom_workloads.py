"""`scan` and `preview` judge the pod templates of workload kinds Kubernetes does not define (an Argo
Rollout, a Knative Service, an OpenKruise CloneSet, a KEDA ScaledJob) and of a core PodTemplate:
blocked with exactly the rules they break, by our rules or the pack and by Checkov; their clean
twins pass with every resource checked."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from stateless_pack.gate.cli import main
from stateless_pack.policies.catalog import rules
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.programs import pulumi_program

IMAGE = "registry.example.org/shop/web@sha256:" + "a" * 64
OURS = {r.name for r in rules()}
HOST_PATH = {"name": "data", "hostPath": {"path": "/srv/data"}}
LOCAL_SESSIONS = {"name": "SESSION_DRIVER", "value": "file"}


def pod_spec(env: list, volumes: list, **extra) -> dict:
    """A pod spec that satisfies every rule and Checkov's built-ins, plus `env` and `volumes`."""
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app", "image": IMAGE, "imagePullPolicy": "Always",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
            "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "500m", "memory": "256Mi"}},
            "securityContext": {"readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 10001,
                                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            **({"env": env} if env else {}),
        }],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, *volumes],
        **extra,
    }


def _object(api_version: str, kind: str, name: str, **body) -> dict:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}}, **body}


def rollout(clean: bool) -> dict:
    """The issue's Rollout: one replica, a hostPath and a server-local session store (or none of them)."""
    return _object("argoproj.io/v1alpha1", "Rollout", "web", spec={
        "replicas": 2 if clean else 1,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}]}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": pod_spec([] if clean else [LOCAL_SESSIONS], [] if clean else [HOST_PATH])}})


def budget(name: str) -> dict:
    return _object("policy/v1", "PodDisruptionBudget", f"{name}-pdb",
                   spec={"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}})


def workloads(clean: bool) -> list[dict]:
    host = [] if clean else [HOST_PATH]
    claims = {} if clean else {"volumeClaimTemplates": [{"metadata": {"name": "uploads"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}
    return [
        rollout(clean), budget("web"),
        _object("serving.knative.dev/v1", "Service", "hello",
                spec={"template": {"spec": pod_spec([], host)}}),
        _object("apps.kruise.io/v1alpha1", "CloneSet", "clones", spec={
            "replicas": 2, "selector": {"matchLabels": {"app": "clones"}},
            "template": {"metadata": {"labels": {"app": "clones"}}, "spec": pod_spec([], [])}, **claims}),
        budget("clones"),
        _object("keda.sh/v1alpha1", "ScaledJob", "worker", spec={
            "jobTargetRef": {"template": {"spec": pod_spec([], host, restartPolicy="Never")}},
            "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "jobs", "mode": "QueueLength",
                                                          "value": "5"}}]}),
        _object("v1", "PodTemplate", "batch", template={"metadata": {"labels": {"app": "batch"}},
                                                        "spec": pod_spec([], host)}),
    ]


def both(rule: str, resource: str, engines=("rules", "checkov")) -> set:
    return {(rule, engine, resource) for engine in engines}


VIOLATIONS = {("min-replicas", "rules", "Rollout/shop/web"),
              *both("no-host-path", "Rollout/shop/web"), *both("no-local-session-store", "Rollout/shop/web"),
              *both("no-host-path", "Service/shop/hello"),
              *both("no-persistent-volume-claims", "CloneSet/shop/clones"),
              *both("no-host-path", "ScaledJob/shop/worker"), *both("no-host-path", "PodTemplate/shop/batch")}


def scan(capsys, folder: Path, junit: Path) -> tuple[int, dict, str]:
    code = main(["scan", str(folder), "--format", "json", "--junit", str(junit)])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def checked_pairs(junit: Path) -> set:
    """(resource, rule) of every JUnit test case: what was checked, passed or not."""
    return {(case.get("classname"), case.get("name")) for case in ET.parse(junit).iter("testcase")}


@pytest.mark.parametrize("clean", [False, True], ids=["violating", "clean"])
def test_scan_judges_the_pod_templates_of_custom_kinds(capsys, tmp_path, clean):
    docs = workloads(clean)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "workloads.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    code, report, err = scan(capsys, tmp_path / "manifests", tmp_path / "junit.xml")
    ours = {(f["rule"], engine, f["resource"]) for f in report["findings"] if f["rule"] in OURS
            for engine in f["engines"]}
    if clean:
        assert (code, report["findings"]) == (0, []), (err, report["findings"])
    else:
        assert code == 1 and ours == VIOLATIONS, err
    pod_templates = {f"{d['kind']}/shop/{d['metadata']['name']}" for d in docs if d["kind"] != "PodDisruptionBudget"}
    # every workload is checked by the pod-template rules, not passed unchecked
    assert {(r, "read-only-root-filesystem") for r in pod_templates} <= checked_pairs(tmp_path / "junit.xml")


def _program(folder: Path, clean: bool) -> Path:
    """A Pulumi program that registers the Rollout as a CustomResource (with its budget)."""
    manifest = rollout(clean)
    body = f"""\
        import pulumi_kubernetes as k8s

        rollout = {manifest!r}
        k8s.apiextensions.CustomResource("web", api_version=rollout["apiVersion"], kind=rollout["kind"],
                                         metadata=rollout["metadata"], spec=rollout["spec"])
        k8s.policy.v1.PodDisruptionBudget("web-pdb", metadata={{"name": "web-pdb", "namespace": "shop"}},
                                          spec={{"max_unavailable": 1, "selector": {{"match_labels": {{"app": "web"}}}}}})
        """
    return pulumi_program(folder, body, name="rollouts")


@pytest.mark.parametrize("clean", [False, True], ids=["violating", "clean"])
def test_preview_blocks_a_rollout_registered_as_a_custom_resource(capsys, tmp_path, clean):
    program = _program(tmp_path / "app", clean)
    code = main(["preview", str(program), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr()
    report = json.loads((tmp_path / "r.json").read_text())
    ours = {(f["rule"], engine, f["resource"]) for f in report["findings"] if f["rule"] in OURS
            for engine in f["engines"]}
    if clean:
        assert (code, report["findings"]) == (0, []), out
        assert "2 resource(s) checked, 0 with findings" in out.out
        return
    assert code == 1, out
    assert ours == {("min-replicas", "crossguard", "Rollout/shop/web"),
                    *both("no-host-path", "Rollout/shop/web", ("crossguard", "checkov")),
                    *both("no-local-session-store", "Rollout/shop/web", ("crossguard", "checkov"))}
    urns = {f["urn"] for f in report["findings"] if "crossguard" in f["engines"]}
    assert urns == {"urn:pulumi:dev::rollouts::kubernetes:argoproj.io/v1alpha1:Rollout::web"}
