"""Run a piece of Pulumi program under Pulumi's mocks and see what it registered.

`run(program)` calls `program()` inside a mocked Pulumi runtime and returns a `Run` with every
registered resource: type, logical name, URN, parent URN, provider reference and inputs exactly as
the engine would receive them (camelCase, secrets still wrapped in Pulumi's secret marker).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pulumi
from pulumi.runtime import mocks, rpc
from pulumi.runtime.sync_await import _sync_await

SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


@dataclass(frozen=True)
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    provider: str
    custom: bool
    inputs: dict          # raw: secrets wrapped

    @property
    def manifest(self) -> dict:
        """The inputs as a Kubernetes manifest (secrets revealed, 2.0 -> 2)."""
        return plain(self.inputs)


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def plain(value: Any) -> Any:
    if is_secret_value(value):
        return plain(value.get("value"))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Echo(mocks.Mocks):
    """Outputs = inputs; the id is namespace/name, like the Kubernetes provider's."""

    def new_resource(self, args: mocks.MockResourceArgs):
        meta = args.inputs.get("metadata") if isinstance(args.inputs.get("metadata"), dict) else {}
        ident = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p) or args.name
        return ident, dict(args.inputs)

    def call(self, args: mocks.MockCallArgs):
        raise RuntimeError(f"unexpected function call {args.token}")


class _RecordingMonitor(mocks.MockMonitor):
    def __init__(self, m: mocks.Mocks):
        super().__init__(m)
        self.records: list = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.records.append(Registered(
                type=request.type, name=request.name, urn=response.urn, parent=request.parent,
                provider=request.provider, custom=bool(request.custom),
                inputs=rpc.deserialize_properties(request.object)))
        return response


@dataclass
class Run:
    resources: list
    result: Any

    def of_type(self, type_: str) -> list:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)


def run(program: Callable[[], Any], project: str = "project", stack: str = "test") -> Run:
    """Run `program` under mocks; exceptions it raises propagate unchanged."""
    monitor = _RecordingMonitor(_Echo())
    mocks.set_mocks(_Echo(), project=project, stack=stack, preview=False, monitor=monitor)
    box: dict = {}

    @pulumi.runtime.test
    def go():
        box["result"] = program()

    go()
    return Run(resources=list(monitor.records), result=box.get("result"))


def resolve(output: Any) -> tuple[Any, bool]:
    """(value, is_secret) of an Output after `run`."""
    output = pulumi.Output.from_input(output)
    return _sync_await(output.future()), _sync_await(output.is_secret())
