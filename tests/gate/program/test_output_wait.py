"""The program child's wait for pending outputs: the SDK's loop, in one round instead of one per output."""
from __future__ import annotations

import asyncio

import pytest
from pulumi.runtime import settings
from pulumi.runtime import stack as pulumi_stack

from stateless_pack.gate.program import output_wait
from stateless_pack.gate.program.runner import ProgramError, run_program
from support.programs import pulumi_program


class CountingFuture(asyncio.Future):
    """A future that counts the callbacks put on it (asyncio.wait puts one on every pending future)."""

    added = 0

    def add_done_callback(self, fn, *, context=None):
        CountingFuture.added += 1
        super().add_done_callback(fn, context=context)


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(pulumi_stack, "asyncio", pulumi_stack.asyncio)  # restored after the test
    output_wait.install()


def run(coroutine_function):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine_function())
    finally:
        loop.close()


async def sdk_wait_for(count: int, fail_at: int | None = None) -> list:
    """The SDK's own `wait_for_rpcs` over `count` pending outputs that complete one after another."""
    futures = [CountingFuture() for _ in range(count)]
    with settings.SETTINGS.lock:
        settings.SETTINGS.outputs.update(futures)

    async def complete_one_by_one():
        for i, future in enumerate(futures):
            await asyncio.sleep(0)
            if i == fail_at:
                future.set_exception(RuntimeError(f"output {i} failed"))
            else:
                future.set_result(i)

    driver = asyncio.ensure_future(complete_one_by_one())
    try:
        await pulumi_stack.wait_for_rpcs()
    finally:
        await driver
        settings.SETTINGS.outputs.difference_update(futures)
    return futures


def test_the_sdk_wait_puts_a_linear_number_of_callbacks_on_the_outputs(installed):
    CountingFuture.added = 0
    futures = run(lambda: sdk_wait_for(400))
    assert all(f.done() for f in futures)
    assert CountingFuture.added <= 2 * len(futures)  # the SDK alone: about 400 * 401 / 2


def test_without_it_the_sdk_wait_is_quadratic():
    CountingFuture.added = 0
    run(lambda: sdk_wait_for(400))
    assert CountingFuture.added > 400 * 100


def test_the_first_failing_output_still_fails_the_wait(installed):
    with pytest.raises(RuntimeError, match="output 7 failed"):
        run(lambda: sdk_wait_for(50, fail_at=7))


def test_the_wait_returns_at_the_first_failure_without_waiting_for_the_rest():
    async def scenario():
        never, failing = asyncio.Future(), asyncio.Future()
        asyncio.get_running_loop().call_soon(failing.set_exception, ValueError("boom"))
        done, pending = await output_wait.wait([never, failing], return_when=asyncio.FIRST_COMPLETED)
        never.cancel()
        return done == {failing} and pending == {never}

    assert run(scenario)


def test_a_cancelled_output_ends_the_wait_too():
    async def scenario():
        never, cancelled = asyncio.Future(), asyncio.Future()
        asyncio.get_running_loop().call_soon(cancelled.cancel)
        done, pending = await output_wait.wait([never, cancelled], return_when=asyncio.FIRST_COMPLETED)
        never.cancel()
        return done == {cancelled} and pending == {never}

    assert run(scenario)


def test_successful_outputs_are_all_awaited_before_it_returns():
    async def scenario():
        futures = [asyncio.Future() for _ in range(3)]
        for i, f in enumerate(futures):
            asyncio.get_running_loop().call_later(0.01 * i, f.set_result, i)
        done, pending = await output_wait.wait(futures, return_when=asyncio.FIRST_COMPLETED)
        return done == set(futures) and not pending

    assert run(scenario)


def test_other_waits_are_asyncio_s_own():
    async def scenario():
        slow, fast = asyncio.Future(), asyncio.Future()
        fast.set_result(1)
        done, pending = await output_wait.wait([slow, fast], timeout=0.01, return_when=asyncio.FIRST_COMPLETED)
        slow.cancel()
        return done == {fast} and pending == {slow}

    assert run(scenario)


# ---- in the program's child ---------------------------------------------------------------------

def test_the_child_waits_with_it(tmp_path):
    run = run_program(pulumi_program(tmp_path, (
        "import pulumi\nfrom pulumi.runtime import stack\n"
        "if not stack.asyncio.wait.__module__.endswith('.gate.program.output_wait'):  # the child's private copy\n"
        "    pulumi.log.error('the SDK waits with ' + stack.asyncio.wait.__module__)\n")))
    assert [r.type for r in run.resources] == ["pulumi:pulumi:Stack"]


def test_resources_registered_while_outputs_settle_are_all_recorded(tmp_path):
    run = run_program(pulumi_program(tmp_path, (
        "import pulumi, pulumi_kubernetes as k8s\n"
        "def later(i):\n"
        "    k8s.core.v1.ConfigMap(f'late-{i}', metadata={'name': f'late-{i}'}, data={'i': str(i)})\n"
        "    return i\n"
        "for i in range(30):\n"
        "    pulumi.Output.from_input(i).apply(later)\n")))
    assert sorted(r.name for r in run.resources if r.custom) == sorted(f"late-{i}" for i in range(30))


def test_an_output_that_fails_while_settling_fails_the_program(tmp_path):
    with pytest.raises(ProgramError, match="apply 17 failed"):
        run_program(pulumi_program(tmp_path, (
            "import pulumi\n"
            "def check(i):\n"
            "    if i == 17:\n"
            "        raise ValueError('apply 17 failed')\n"
            "    return i\n"
            "for i in range(30):\n"
            "    pulumi.Output.from_input(i).apply(check)\n")))
