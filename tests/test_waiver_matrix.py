"""Waivers fail closed in every command and every engine, with the same decision everywhere.

One program registers a resource per case (a suppression that no valid waiver backs, in every way
one can go wrong); `stateless-pack preview` runs it (the pack over gRPC, our rules, Checkov) and
`stateless-pack scan` runs over the manifests preview rendered, with the same registry. Every case
must block in both commands with the same finding, and a property test checks that both commands
decide every (rule, resource) pair alike for random registries and annotations.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from stateless_pack.policies.waivers.model import WaiverRegistryError, utc_today
from support.signing import Approval, approval

TODAY = utc_today()
HOD, LEAD = "jane.doe@example.org", "max.mustermann@example.org"  # roles in the test pack's approvers
PROGRAM = '''\
import json
from pathlib import Path

import pulumi_kubernetes as k8s

for doc in json.loads(Path(__file__).with_name("resources.json").read_text()):
    meta = doc["metadata"]
    name = f"{meta['namespace']}-{meta['name']}"
    if doc["kind"] == "ConfigMap":
        k8s.core.v1.ConfigMap(name, metadata=meta, data=doc["data"])
    else:
        k8s.core.v1.Service(name, metadata=meta, spec=doc["spec"])
'''


def config_map(name: str, annotations: dict) -> dict:
    """In namespace `default`: Checkov's CKV_K8S_21 fails on it, so a skip of it matters."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": {"feature": "on"},
            "metadata": {"name": name, "namespace": "default", "annotations": annotations}}


def sticky_service(name: str, annotations: dict) -> dict:
    """Fails our no-sticky-service (pack and rules) and CKV_STL_1 (Checkov)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
            "spec": {"selector": {"app": name}, "sessionAffinity": "ClientIP",
                     "ports": [{"port": 80, "targetPort": 8080}]}}


def waiver(wid: str, rules: list, scope: dict, *, by=LEAD, role="platform-lead", created=-10, expires=30) -> dict:
    return {"id": wid, "rules": rules, "scope": scope, "reason": "test", "approved_by": by,
            "approver_role": role, "reference": f"OPS-{wid[2:]}",
            "created": str(TODAY + timedelta(days=created)), "expires": str(TODAY + timedelta(days=expires))}


REGISTRY = [
    waiver("W-0001", ["min-replicas"], {"namespace": "default", "name": "other-rule"}),
    waiver("W-0002", ["CKV_K8S_21"], {"kind": "ConfigMap", "namespace": "default", "name": "someone-else"}),
    waiver("W-0003", ["CKV_K8S_21"], {"stack": "prod", "namespace": "default", "name": "other-stack"}),
    waiver("W-0004", ["CKV_K8S_21"], {"namespace": "shop", "name": "other-namespace"}),
    waiver("W-0005", ["CKV_K8S_21"], {"namespace": "default", "name": "expired*"}, created=-40, expires=-1),
    waiver("W-0006", ["CKV_K8S_21"], {"namespace": "default", "name": "several-skips"}),
    waiver("W-0007", ["no-sticky-service"], {"namespace": "shop", "name": "someone-elses-svc"}, by=HOD,
           role="head-of-devops"),
]
SKIP = "checkov.io/skip1"
MARKER = "stateless-pack.io/waivers"
# case -> (resource, {annotation that must be unbacked: why}); each case fails for that one reason only
CASES = {
    "unknown-waiver-id": (config_map("unknown-id", {SKIP: "CKV_K8S_21=W-0099"}),
                          {SKIP: "W-0099 is not in the registry"}),
    "waiver-for-another-rule": (config_map("other-rule", {SKIP: "CKV_K8S_21=W-0001"}),
                                {SKIP: "W-0001 does not waive CKV_K8S_21"}),
    "waiver-for-another-resource": (config_map("other-resource", {SKIP: "CKV_K8S_21=W-0002"}),
                                    {SKIP: "W-0002 does not cover"}),
    "waiver-for-another-stack": (config_map("other-stack", {SKIP: "CKV_K8S_21=W-0003"}),
                                 {SKIP: "W-0003 does not cover"}),
    "waiver-for-another-namespace": (config_map("other-namespace", {SKIP: "CKV_K8S_21=W-0004"}),
                                     {SKIP: "W-0004 does not cover"}),
    "expired-waiver": (config_map("expired", {SKIP: "CKV_K8S_21=W-0005"}), {SKIP: "W-0005 expired on"}),
    "free-text": (config_map("free-text", {SKIP: "CKV_K8S_21=legacy, ask Bob"}),
                  {SKIP: "names no registered waiver"}),
    "equals-in-the-reason": (config_map("equals", {SKIP: "CKV_K8S_21=W-0006=because"}),
                             {SKIP: "names no registered waiver"}),
    "several-skips-one-unbacked": (config_map("several-skips", {SKIP: "CKV_K8S_21=W-0006",
                                                                "checkov.io/skip2": "CKV_K8S_21=W-0099"}),
                                   {"checkov.io/skip2": "W-0099 is not in the registry"}),
    "marker-unknown-id": (config_map("marker-unknown", {MARKER: "W-0099"}), {MARKER: "W-0099 is not in the registry"}),
    "marker-expired": (config_map("expired-marker", {MARKER: "W-0005"}), {MARKER: "W-0005 expired on"}),
    "marker-other-resource": (config_map("marker-other", {MARKER: "W-0002"}), {MARKER: "W-0002 does not cover"}),
    "our-id-unknown-waiver": (sticky_service("sticky-unknown", {SKIP: "CKV_STL_1=W-0099"}),
                              {SKIP: "W-0099 is not in the registry"}),
    "our-id-other-resource": (sticky_service("sticky-other", {SKIP: "CKV_STL_1=W-0007", MARKER: "W-0007"}),
                              {SKIP: "W-0007 does not cover", MARKER: "W-0007 does not cover"}),
}


def signed(text: str, keys: Approval) -> str:
    """`text` with every valid head-of-devops waiver signed by the Head of DevOps."""
    for entry in yaml.safe_load(text)["waivers"]:
        if entry["approver_role"] == "head-of-devops":
            try:
                text = keys.sign(text, entry["id"])
            except WaiverRegistryError:  # invalid for another reason: the registry is invalid anyway
                pass
    return text


def write_project(folder: Path, resources: list, registry: list, keys: Approval) -> Path:
    """A project whose head-of-devops waivers carry real signatures by the keys `keys.pack_dir` trusts."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text("name: matrix\nruntime: python\n")
    (folder / "Pulumi.dev.yaml").write_text("config: {}\n")
    (folder / "__main__.py").write_text(PROGRAM)
    (folder / "resources.json").write_text(json.dumps(resources))
    text = yaml.safe_dump({"version": 1, "waivers": registry}, sort_keys=False)
    (folder / "waivers.yaml").write_text(signed(text, keys))
    (folder / "pack").symlink_to(keys.pack_dir)
    return folder


def stateless_pack(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STATELESS_PACK_WAIVERS"}
    return subprocess.run([sys.executable, "-m", "stateless_pack.gate.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


def run_both(project: Path) -> tuple[tuple[int, list], tuple[int, list]]:
    """(exit, findings) of `preview` on the project and of `scan` on what preview rendered."""
    out, report, pack = project / "out", project / "preview.json", project / "pack"
    preview = stateless_pack("preview", project, "--out", out, "--json", report, "--pack", pack)
    assert preview.returncode in (0, 1), preview.stderr
    scan = stateless_pack("scan", out, "--format", "json", "--stack", "dev", "--waivers", project / "waivers.yaml",
                          "--pack", pack)
    assert scan.returncode in (0, 1), scan.stderr
    return ((preview.returncode, json.loads(report.read_text())["findings"]),
            (scan.returncode, json.loads(scan.stdout)["findings"]))


def unbacked(findings: list) -> set:
    return {(f["resource"], f["path"], f["message"], f["blocking"])
            for f in findings if f["rule"] == "unbacked-suppression"}


def decisions(findings: list) -> set:
    """(rule, resource, waived, blocking) for every finding, whichever engine reported it."""
    return {(f["rule"], f["resource"], f["waiver"], f["blocking"]) for f in findings}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Approval:
    return approval(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, keys):
    project = write_project(tmp_path_factory.mktemp("matrix"), [doc for doc, _ in CASES.values()], REGISTRY, keys)
    return run_both(project)


def test_the_issues_reproduction_blocks_in_preview_like_in_scan(matrix):
    (preview_code, preview_findings), (scan_code, scan_findings) = matrix
    assert (preview_code, scan_code) == (1, 1)
    for findings in (preview_findings, scan_findings):
        [row] = [f for f in findings if f["rule"] == "unbacked-suppression"
                 and f["resource"] == "ConfigMap/default/unknown-id"]
        assert row["blocking"] and row["waiver"] == "" and "W-0099 is not in the registry" in row["message"]


@pytest.mark.parametrize("case", CASES)
def test_every_unbacked_suppression_blocks_in_both_commands_with_the_same_finding(matrix, case):
    doc, reasons = CASES[case]
    resource = f"{doc['kind']}/{doc['metadata']['namespace']}/{doc['metadata']['name']}"
    (_, preview_findings), (_, scan_findings) = matrix
    in_preview = {row for row in unbacked(preview_findings) if row[0] == resource}
    in_scan = {row for row in unbacked(scan_findings) if row[0] == resource}
    assert in_preview == in_scan
    assert all(blocking for *_, blocking in in_preview)
    assert {path for _, path, _, _ in in_preview} == {f'metadata.annotations["{key}"]' for key in reasons}
    for key, why in reasons.items():
        [message] = [m for _, path, m, _ in in_preview if path == f'metadata.annotations["{key}"]']
        assert why in message


@pytest.mark.parametrize("case", CASES)
def test_the_suppressed_check_itself_still_blocks_in_both_engines(matrix, case):
    """A skip no valid waiver backs hides nothing: Checkov and our rules still report the check."""
    doc, _ = CASES[case]
    resource = f"{doc['kind']}/{doc['metadata']['namespace']}/{doc['metadata']['name']}"
    (_, preview_findings), (_, scan_findings) = matrix
    wanted = {"ConfigMap": {("CKV_K8S_21", "checkov")},
              "Service": {("no-sticky-service", "checkov"), ("no-sticky-service", "ours")}}[doc["kind"]]
    for findings, ours in ((preview_findings, "crossguard"), (scan_findings, "rules")):
        found = {(f["rule"], "ours" if engine == ours else engine) for f in findings for engine in f["engines"]
                 if f["resource"] == resource and f["rule"] != "unbacked-suppression"}
        blocking = {(f["rule"], f["blocking"]) for f in findings if f["resource"] == resource}
        assert wanted <= found
        if case == "several-skips-one-unbacked":  # W-0006 does cover CKV_K8S_21 there
            assert ("CKV_K8S_21", False) in blocking
        else:
            assert all(("unbacked" in r or b) for r, b in blocking if r != "unbacked-suppression")


def test_both_commands_decide_every_pair_alike(matrix):
    (_, preview_findings), (_, scan_findings) = matrix
    assert decisions(preview_findings) == decisions(scan_findings)


def test_a_registry_with_an_approver_lacking_the_role_backs_nothing(tmp_path, keys):
    broken = [dict(w) for w in REGISTRY]
    broken[5] = waiver("W-0006", ["CKV_K8S_21"], {"namespace": "default", "name": "several-skips"},
                       by=LEAD, role="head-of-devops")  # max.mustermann is a platform lead
    backed = config_map("several-skips", {SKIP: "CKV_K8S_21=W-0006"})
    project = write_project(tmp_path / "p", [backed], broken, keys)
    (preview_code, preview_findings), (scan_code, scan_findings) = run_both(project)
    assert (preview_code, scan_code) == (1, 1)
    for findings in (preview_findings, scan_findings):
        assert {f["rule"] for f in findings if f["blocking"]} >= {"waiver-registry", "unbacked-suppression",
                                                                   "CKV_K8S_21"}
        assert not any(f["waiver"] for f in findings)
    assert unbacked(preview_findings) == unbacked(scan_findings)
    assert decisions(preview_findings) == decisions(scan_findings)


# ---- random registries and annotations: both commands agree ----------------------------------------

NAMES = ("alpha", "beta", "gamma")
RULE_IDS = ("CKV_K8S_21", "no-sticky-service", "CKV_STL_1", "min-replicas", "CKV_K8S_20")


@st.composite
def registries(draw) -> list:
    found = []
    for n in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([*NAMES, "elsewhere"]))
        found.append(waiver(
            f"W-{100 + n:04d}", draw(st.lists(st.sampled_from(RULE_IDS), min_size=1, max_size=2, unique=True)),
            {"namespace": draw(st.sampled_from(["default", "shop"])), "name": name,
             **({"stack": draw(st.sampled_from(["dev", "prod"]))} if draw(st.booleans()) else {})},
            by=HOD, role="head-of-devops", created=draw(st.sampled_from([-30, -1])),
            expires=draw(st.sampled_from([-2, 0, 20]))))
    return found


@st.composite
def annotation_sets(draw, ids: list) -> dict:
    chosen = draw(st.lists(st.sampled_from([*ids, "W-0999", "not-a-waiver", "W-0100=x"]), max_size=2))
    annotations = {f"checkov.io/skip{i + 1}": f"{draw(st.sampled_from(RULE_IDS[:3]))}={wid}"
                   for i, wid in enumerate(chosen)}
    if draw(st.booleans()) and ids:
        annotations[MARKER] = ",".join(draw(st.lists(st.sampled_from(ids), min_size=1, max_size=2)))
    return annotations


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_preview_and_scan_agree_on_every_rule_resource_and_waiver(tmp_path_factory, keys, data):
    registry = data.draw(registries())
    ids = [w["id"] for w in registry]
    resources = [config_map(NAMES[0], data.draw(annotation_sets(ids))),
                 sticky_service(NAMES[1], data.draw(annotation_sets(ids))),
                 sticky_service(NAMES[2], {})]
    project = write_project(tmp_path_factory.mktemp("random"), resources, registry, keys)
    (_, preview_findings), (_, scan_findings) = run_both(project)
    assert decisions(preview_findings) == decisions(scan_findings)
    assert unbacked(preview_findings) == unbacked(scan_findings)


def test_the_issue_reproduction_on_a_copy_of_the_reference_stack(tmp_path):
    """Issue #9 as reported: the reference stack plus one ConfigMap whose skip names no waiver."""
    from support.paths import REPO

    project = tmp_path / "reference"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "waivers.yaml"):
        (project / name).write_text((REPO / name).read_text())
    (project / ".venv").symlink_to(REPO / ".venv")  # the project's virtualenv, as Pulumi.yaml names it
    with open(project / "__main__.py", "a") as program:
        program.write('\nk8s.core.v1.ConfigMap("flags", metadata={"name": "flags", "namespace": "default",\n'
                      '    "annotations": {"checkov.io/skip1": "CKV_K8S_21=W-0099"}}, data={"feature": "on"})\n')
    done = stateless_pack("preview", project, "--out", tmp_path / "out", "--json", tmp_path / "r.json")
    assert done.returncode == 1, done.stdout + done.stderr
    blocking = {(f["rule"], f["resource"]) for f in json.loads((tmp_path / "r.json").read_text())["findings"]
                if f["blocking"]}
    assert {("unbacked-suppression", "ConfigMap/default/flags"), ("CKV_K8S_21", "ConfigMap/default/flags")} <= blocking
