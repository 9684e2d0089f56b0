"""policies/gate/program/runner.py: a Pulumi program under mocks, in a child process."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stateless_pack.gate.program.runner import ProgramError, load_config, load_project, run_program
from stateless_pack.gate.program.values import Secret, redact, reveal, secret_values
from support.paths import FIXTURES as FIXTURE_ROOT

FIXTURES = FIXTURE_ROOT / "gate"


@pytest.fixture(scope="module")
def violations():
    return run_program(FIXTURES / "violations")


def by_name(run, type_, name):
    return next(r for r in run.resources if r.type == type_ and r.name == name)


def test_collects_every_resource_with_stack_first_and_parents(violations):
    stack = violations.resources[0]
    assert (stack.type, stack.name, stack.custom) == ("pulumi:pulumi:Stack", "violations-dev", False)
    component = by_name(violations, "fixtures:index:Storefront", "shop")
    assert component.custom is False and component.parent == stack.urn
    sticky = by_name(violations, "kubernetes:core/v1:Service", "sticky")
    assert sticky.custom is True
    assert sticky.parent == component.urn
    assert sticky.urn == ("urn:pulumi:dev::violations::fixtures:index:Storefront$"
                          "kubernetes:core/v1:Service::sticky")
    assert by_name(violations, "kubernetes:apps/v1:Deployment", "no-netpol").parent == stack.urn
    types = sorted(r.type for r in violations.resources)
    assert types.count("kubernetes:apps/v1:Deployment") == 2
    assert len(violations.resources) == 9  # stack, component, 2x(deploy, pdb), netpol, service, secret


def test_inputs_are_the_manifest_shape_with_config_applied(violations):
    sticky = by_name(violations, "kubernetes:core/v1:Service", "sticky")
    assert sticky.inputs["apiVersion"] == "v1" and sticky.inputs["kind"] == "Service"
    assert sticky.inputs["metadata"] == {"name": "sticky", "namespace": "shop"}
    assert sticky.inputs["spec"]["sessionAffinity"] == "ClientIP"
    assert sticky.inputs["spec"]["ports"] == [{"port": 80, "targetPort": 8080}]  # ints, not 80.0


def test_secret_values_stay_marked_where_they_are(violations):
    deployment = by_name(violations, "kubernetes:apps/v1:Deployment", "storefront")
    env = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "GREETING", "value": Secret("s3cr3t-greeting-from-config")}]
    assert not isinstance(deployment.inputs["spec"], Secret)  # only the value, not all of spec
    secret = by_name(violations, "kubernetes:core/v1:Secret", "session-key")
    assert secret.inputs["stringData"] == Secret({"key": "plain-session-key-in-stringdata"})
    assert sorted(secret_values(deployment.inputs) + secret_values(secret.inputs)) == [
        "plain-session-key-in-stringdata", "s3cr3t-greeting-from-config"]
    assert "s3cr3t" not in json.dumps(redact(deployment.inputs))
    assert "s3cr3t-greeting-from-config" in json.dumps(reveal(deployment.inputs))
    assert "s3cr3t" not in repr(Secret("s3cr3t"))


def test_dependencies_and_no_secure_value_leak_into_config(violations):
    assert "violations:apiToken" not in violations.config  # secure: never decrypted, never passed
    assert violations.config["violations:namespace"] == "shop"


def test_main_subfolder_typed_config_and_auto_naming():
    run = run_program(FIXTURES / "subfolder-main", stack="prod")
    assert run.main == (FIXTURES / "subfolder-main" / "src" / "__main__.py").resolve()
    cm = by_name(run, "kubernetes:core/v1:ConfigMap", "settings")
    assert cm.inputs["data"] == {"source": "helper", "replicas": "2"}  # Pulumi.yaml default
    assert cm.inputs["metadata"]["labels"] == {"team": "shop", "tier": "web"}
    assert cm.inputs["metadata"]["name"].startswith("settings-")  # the provider's auto-naming
    again = run_program(FIXTURES / "subfolder-main", stack="prod")
    assert by_name(again, "kubernetes:core/v1:ConfigMap", "settings").inputs == cm.inputs


def test_default_stack_is_the_only_stack_file():
    assert run_program(FIXTURES / "subfolder-main").stack == "prod"


def test_config_strings_like_the_cli(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\nconfig:\n  a: 1\n"
                                          "  b: {type: boolean, default: true, secret: true}\n")
    (tmp_path / "Pulumi.s.yaml").write_text(
        "config:\n  p:n: 3\n  p:obj: {x: [1, 2]}\n  aws:region: eu-west-1\n  plain: text\n"
        "  p:pw: {secure: v1:abc}\n  p:nested: {inner: {secure: v1:abc}}\n")
    config, secret, secure = load_config(tmp_path, load_project(tmp_path), "s")
    assert config == {"p:a": "1", "p:b": "true", "p:n": "3", "p:obj": '{"x": [1, 2]}',
                      "aws:region": "eu-west-1", "p:plain": "text"}
    assert sorted(secure) == ["p:nested", "p:pw"]
    assert sorted(secret) == ["p:b", "p:nested", "p:pw"]


def test_reading_a_secure_value_fails_naming_the_key():
    with pytest.raises(ProgramError) as err:
        run_program(FIXTURES / "secure-config")
    assert "secure-config:dbPassword" in str(err.value) and "Pulumi CLI" in str(err.value)


def test_a_crashing_program_is_an_error_with_its_message():
    with pytest.raises(ProgramError) as err:
        run_program(FIXTURES / "broken-program")
    assert "fixture program broken on purpose" in str(err.value)
    assert "broken-program" in str(err.value)


@pytest.mark.parametrize("body, expected", [
    ("import sys\nsys.exit(0)\n", "SystemExit"),
    ("import pulumi\npulumi.log.error('bad input')\n", "bad input"),
    ("import os\nos._exit(3)\n", "exit code 3"),
])
def test_exits_and_logged_errors_fail_too(tmp_path, body, expected):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(body)
    with pytest.raises(ProgramError) as err:
        run_program(tmp_path)
    assert expected in str(err.value)


@pytest.mark.parametrize("files, expected", [
    ({}, "no Pulumi.yaml"),
    ({"Pulumi.yaml": "name: p\nruntime: go\n"}, "runtime 'go' is not supported"),
    ({"Pulumi.yaml": "name: p\nruntime: python\nmain: nowhere/\n"}, "does not exist"),
    ({"Pulumi.yaml": "name: p\nruntime: python\n", "__main__.py": "", "Pulumi.a.yaml": "",
      "Pulumi.b.yaml": ""}, "choose one with --stack"),
    ({"Pulumi.yaml": ": : :\n"}, "cannot read"),
])
def test_project_problems_are_clear_errors(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ProgramError) as err:
        run_program(tmp_path)
    assert expected in str(err.value)


def test_a_misspelt_stack_is_an_error_not_an_empty_config(tmp_path):
    shutil.copytree(FIXTURES / "clean-app", tmp_path / "app")
    with pytest.raises(ProgramError) as err:
        run_program(tmp_path / "app", stack="prdo")
    assert "Pulumi.prdo.yaml" in str(err.value) and "dev" in str(err.value)


def test_program_cannot_touch_the_gate_process():
    import pulumi.runtime.settings as settings

    before = settings.SETTINGS.project if hasattr(settings.SETTINGS, "project") else None
    run_program(FIXTURES / "clean-app")
    after = settings.SETTINGS.project if hasattr(settings.SETTINGS, "project") else None
    assert before == after  # the program ran in a child process


def test_urns_are_the_engines_not_the_mocks(violations):
    """The engine leaves the root stack out of a URN's type and keeps a parent's whole chain."""
    deployment = by_name(violations, "kubernetes:apps/v1:Deployment", "no-netpol")
    assert deployment.urn == "urn:pulumi:dev::violations::kubernetes:apps/v1:Deployment::no-netpol"
    assert all("pulumi:pulumi:Stack$" not in r.urn for r in violations.resources)
