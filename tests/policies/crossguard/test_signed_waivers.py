"""Signed sticky-session waivers in the CrossGuard pack, over the analyzer gRPC protocol: only a
waiver the Head of DevOps signed with her listed key waives; every other one makes the registry
invalid (one mandatory finding naming the waiver and what to do) and nothing is waived."""
from __future__ import annotations

import copy

import pytest

from stateless_pack.gate.pack.engine import launch_pack
from support.pack_harness import resource_of
from support.signing import CASES, REFUSALS, approval, case_id, case_registry

STICKY = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "session-store", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"selector": {"app": "web"}, "sessionAffinity": "ClientIP", "ports": [{"port": 80}]},
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return approval(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module", params=CASES)
def case(request, keys, tmp_path_factory):
    """(case, diagnostics of the sticky Service, of the stack) from a pack whose registry holds that
    case's waiver for the Service."""
    path = tmp_path_factory.mktemp("registry") / "waivers.yaml"
    path.write_text(case_registry(keys, [request.param], name=lambda _: "session-store"))
    with launch_pack(keys.pack_dir, project="shop", stack="dev",
                     env={"STATELESS_PACK_WAIVERS": str(path)}) as pack:
        pack.client.configure()
        resource = resource_of(copy.deepcopy(STICKY))
        yield request.param, pack.client.analyze(resource), pack.client.analyze_stack([resource])


def of(diagnostics, policy):
    return [d for d in diagnostics if d.policy_name == policy]


def test_only_the_properly_signed_waiver_waives(case):
    name, diagnostics, _ = case
    [sticky] = of(diagnostics, "no-sticky-service")
    if name == "signed":
        assert sticky.enforcement_level == "advisory" and f"waived by {case_id(name)}" in sticky.message
    else:
        assert sticky.enforcement_level == "mandatory" and "waived" not in sticky.message


def test_every_other_waiver_is_a_registry_problem_naming_it_and_what_to_do(case):
    name, _, stack = case
    problems = of(stack, "waiver-registry")
    if name == "signed":
        assert problems == []
        return
    [problem] = problems
    assert problem.enforcement_level == "mandatory"
    assert f"waivers[0] {case_id(name)}: signature: " in problem.message and REFUSALS[name] in problem.message
    assert f"stateless-pack waivers sign {case_id(name)}" in problem.message
