"""gate/program/runner.py: each resource reaches the gate while the program still runs (`on_resource`)."""
from __future__ import annotations

import sys

import pytest

from stateless_pack.gate.program.runner import ProgramError, run_program
from support.paths import FIXTURES
from support.programs import pulumi_program

# The program registers "second" only once the gate has seen "first" (it waits for a file the gate's
# callback creates): without streaming it gives up after 20 s and fails.
WAITS_FOR_THE_GATE = """\
import asyncio, os
import pulumi
import pulumi_kubernetes as k8s

k8s.core.v1.ConfigMap("first", metadata={"name": "first"})


async def announced():
    for _ in range(400):
        if os.path.exists(os.environ["FIRST_SEEN"]):
            return True
        await asyncio.sleep(0.05)
    raise RuntimeError("the gate did not get 'first' while the program ran")


pulumi.Output.from_input(asyncio.ensure_future(announced())).apply(
    lambda _: k8s.core.v1.ConfigMap("second", metadata={"name": "second"}))
"""


def test_resources_arrive_while_the_program_runs(tmp_path, monkeypatch):
    seen_file = tmp_path / "first-seen"
    monkeypatch.setenv("FIRST_SEEN", str(seen_file))
    seen = []

    def on_resource(resource):
        seen.append(resource)
        if resource.name == "first":
            seen_file.touch()

    run = run_program(pulumi_program(tmp_path, WAITS_FOR_THE_GATE), on_resource=on_resource)
    assert [r.name for r in seen] == ["p-dev", "first", "second"]
    assert sorted(map(id, seen)) == sorted(map(id, run.resources))  # the very objects of the run


def test_every_resource_of_a_run_is_announced_once(tmp_path):
    seen = []
    run = run_program(FIXTURES / "gate" / "violations", on_resource=seen.append)
    assert len(seen) == len(run.resources) == 9
    assert sorted(map(id, seen)) == sorted(map(id, run.resources))


@pytest.mark.parametrize("body, expected", [
    ("import os\nimport pulumi_kubernetes as k8s\nk8s.core.v1.ConfigMap('c', metadata={'name': 'c'})\n"
     "import pulumi\npulumi.Output.from_input(1).apply(lambda _: os._exit(3))\n", "exit code 3"),
    ("import pulumi_kubernetes as k8s\nk8s.core.v1.ConfigMap('c', metadata={'name': 'c'})\n"
     "raise RuntimeError('after the first resource')\n", "after the first resource"),
])
def test_a_run_that_fails_after_announcing_resources_still_fails(tmp_path, body, expected):
    with pytest.raises(ProgramError, match=expected):
        run_program(pulumi_program(tmp_path, body), on_resource=lambda resource: None)


RESOURCE = ('{"resource": {"type": "pulumi:pulumi:Stack", "name": "p-dev", "urn": "urn:pulumi:dev::p::'
            'pulumi:pulumi:Stack::p-dev", "custom": false, "inputs": {}, "parent": "", "dependencies": [], '
            '"property_dependencies": {}, "provider": "", "id": ""}}\n')


def fake_child(tmp_path, answer: str) -> str:
    """An interpreter that writes `answer` to the answer pipe instead of running the program."""
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!{sys.executable}\nimport os, sys\nwith os.fdopen(int(sys.argv[-1]), 'w') as out:\n"
                    f"    out.write({answer!r})\n")
    fake.chmod(0o755)
    return str(fake)


@pytest.mark.parametrize("answer", [
    RESOURCE + '{"done": 2}\n',         # one resource lost on the way
    RESOURCE + '{"done": 1',            # the answer cut short
    RESOURCE[:40],                      # a resource cut short, no answer
    RESOURCE + '["not", "an", "answer"]\n',
])
def test_an_answer_that_does_not_add_up_is_a_failed_run(tmp_path, answer):
    with pytest.raises(ProgramError, match="failed"):
        run_program(pulumi_program(tmp_path, ""), python=fake_child(tmp_path, answer))


def test_a_fake_child_whose_answer_adds_up_is_a_run(tmp_path):
    run = run_program(pulumi_program(tmp_path, ""), python=fake_child(tmp_path, RESOURCE + '{"done": 1}\n'))
    assert [r.name for r in run.resources] == ["p-dev"]
