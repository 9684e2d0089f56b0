"""Every value the program marks secret, announced the moment the Pulumi SDK makes it (in the program's child).

A program makes a value secret with `Output.secret` (`Config.*_secret` call it too); the resources'
secret inputs and the outputs it marks with `additional_secret_outputs` are announced by the host
as it registers them (`gate/program/child.py`). `install` wraps `Output.secret`: a plain value is
announced before the call returns (a program may raise with the same string in its next line), an
awaitable one as soon as it resolves, by a callback on the output's future that is registered before
the program can await it (asyncio runs a future's callbacks in the order they were added), so before
any `apply` or `await` of the program sees it. Outputs merely derived from a secret are not announced
again: the SDK marks a whole structure secret when one leaf is (a Deployment's `spec` with one secret
env value), which would redact every ordinary value in it; the leaf itself is known already.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from pulumi import Output

from stateless_pack.gate.program.pulumi_wire import SECRET_SIG, SIG_KEY


def scalars(value: Any) -> list[str]:
    """The scalar values inside `value` as text (what must never be shown): strings, numbers; not
    mapping keys, booleans, None, unknowns, resources or the wire's markers."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and SIG_KEY in item:
            if item[SIG_KEY] == SECRET_SIG:  # a secret on the wire: its value (other markers: refs, assets)
                stack.append(item.get("value"))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str):
            found.append(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            found.append(str(int(item)) if isinstance(item, float) and item.is_integer() else str(item))
    return [text for text in found if text]


def install(announce: Callable[[Any], None]) -> None:
    """Call `announce(value)` for every value handed to `Output.secret`, before the program sees it."""
    plain_secret = Output.secret

    def secret(val):
        output = plain_secret(val)
        if not isinstance(val, Output) and not asyncio.isfuture(val) and not asyncio.iscoroutine(val):
            announce(val)
        _when_resolved(output, announce)
        return output

    Output.secret = staticmethod(secret)


def _when_resolved(output: Output, announce: Callable[[Any], None]) -> None:
    data = output.__dict__.get("_data")
    if asyncio.isfuture(data):  # pulumi >= 3.23x: one future of the output's whole state
        data.add_done_callback(lambda done: _resolved(done, announce, lambda result: result.value))
        return
    value = output.__dict__.get("_future")  # older: a future per field
    if asyncio.isfuture(value):
        value.add_done_callback(lambda done: _resolved(done, announce, lambda result: result))


def _resolved(done: asyncio.Future, announce: Callable[[Any], None], value_of: Callable[[Any], Any]) -> None:
    if not done.cancelled() and done.exception() is None:
        announce(value_of(done.result()))
