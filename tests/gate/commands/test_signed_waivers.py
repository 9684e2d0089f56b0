"""Signed sticky-session waivers through the gate: `stateless-pack preview` (the program under
mocks, the pack over gRPC, Checkov, the gate's own waiver pass, cross-checked) and `scan`.

One Service per case (tests/fixtures/waivers/signed-program, and the same Services as manifests
for `scan`), two runs per command: every case in one registry (each bad waiver is named with its
reason, the registry is invalid, nothing is waived), then the properly signed waiver alone (it
waives its Service and nothing else)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stateless_pack.gate.cli import main
from support.paths import FIXTURES
from support.signing import CASES, REFUSALS, approval, case_id, case_registry

PROGRAM = FIXTURES / "waivers" / "signed-program"
REFUSED = [c for c in CASES if c != "signed"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return approval(tmp_path_factory.mktemp("keys"))


def manifests(folder: Path) -> Path:
    """The program's Services as plain manifests, for `scan`."""
    folder.mkdir()
    (folder / "services.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": case, "namespace": "shop", "labels": {"app": case}},
         "spec": {"selector": {"app": case}, "sessionAffinity": "ClientIP",
                  "ports": [{"port": 80, "targetPort": 8080}]}} for case in CASES]))
    return folder


def gate(command: str, folder: Path, keys, cases, *extra) -> tuple[int, list]:
    """Exit code and findings of `stateless-pack COMMAND` with a registry holding `cases`."""
    registry = folder / f"waivers-{len(cases)}.yaml"
    registry.write_text(case_registry(keys, cases))
    report = folder / f"{command}-{len(cases)}.json"
    args = ([command, str(PROGRAM), "--out", str(folder / f"out-{len(cases)}"), "--json", str(report)]
            if command == "preview" else
            [command, str(manifests(folder / f"m-{len(cases)}")), "--format", "json", "--output", str(report)])
    code = main([*args, "--waivers", str(registry), "--pack", str(keys.pack_dir), *extra])
    return code, json.loads(report.read_text())["findings"]


@pytest.fixture(scope="module", params=["preview", "scan"])
def runs(request, keys, tmp_path_factory):
    """Per command: (every case in one registry, the signed waiver alone)."""
    folder = tmp_path_factory.mktemp(request.param)
    return request.param, gate(request.param, folder, keys, CASES), gate(request.param, folder, keys, ["signed"])


def sticky(findings) -> dict:
    """Service name -> [(engine, waiver, blocking)] of its no-sticky-service findings."""
    found: dict = {}
    for f in findings:
        if f["rule"] == "no-sticky-service":
            found.setdefault(f["resource"].rsplit("/", 1)[-1], []).extend(
                (engine, f["waiver"], f["blocking"]) for engine in f["engines"])
    return found


def test_every_badly_signed_waiver_is_refused_and_named_with_its_reason(runs):
    command, (code, findings), _ = runs
    assert code == 1
    problems = [f["message"] for f in findings if f["rule"] == "waiver-registry"]
    for case in REFUSED:
        [message] = [m for m in problems if f" {case_id(case)}: signature: " in m]
        assert REFUSALS[case] in message and f"stateless-pack waivers sign {case_id(case)}" in message
    assert not any(f" {case_id('signed')}: " in m for m in problems)
    assert all(f["blocking"] for f in findings if f["rule"] == "waiver-registry")


def test_an_invalid_registry_waives_nothing_not_even_the_signed_waiver(runs):
    command, (_, findings), _ = runs
    by_service = sticky(findings)
    assert sorted(by_service) == sorted(CASES)
    engines = {"crossguard", "checkov"} if command == "preview" else {"rules", "checkov"}
    for service, rows in by_service.items():
        assert {engine for engine, _, _ in rows} == engines, service
        assert all(waiver == "" and blocking for _, waiver, blocking in rows), service


def test_the_properly_signed_waiver_waives_its_service_only(runs):
    command, _, (code, findings) = runs
    assert code == 1  # the other sticky Services have no waiver at all
    assert [f for f in findings if f["rule"] == "waiver-registry"] == []
    by_service = sticky(findings)
    assert all(waiver == case_id("signed") and not blocking for _, waiver, blocking in by_service["signed"])
    assert all(waiver == "" and blocking for case in REFUSED for _, waiver, blocking in by_service[case])
