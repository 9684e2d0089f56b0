"""The pack's Remediate+Analyze for each resource as the program registers it, as the Pulumi engine does.

Resources that arrive before the pack is configured wait for `start`; then every resource is sent
on a few threads over the pack's one channel (`AnalyzerClient.analyze`, thread-safe), and
`results` gives each resource's diagnostics in the order asked for (the run's order, which does not
depend on the order the program registered them in).
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from stateless_pack.gate.pack import engine
from stateless_pack.gate.program import runner as program
from stateless_pack.gate.program.values import Secret


def engine_value(value: Any) -> Any:
    """A program value as the engine sends it (secrets keep their marker)."""
    if isinstance(value, Secret):
        return engine.Secret(engine_value(value.value))
    if isinstance(value, dict):
        return {k: engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_value(v) for v in value]
    return value


def engine_resource(r: program.RegisteredResource) -> engine.Resource:
    """A registered resource as the engine sends it to an analyzer."""
    return engine.Resource(type=r.type, name=r.name, properties=engine_value(r.inputs), urn=r.urn,
                           parent=r.parent, dependencies=r.dependencies,
                           property_dependencies=r.property_dependencies)


class PackFeed:
    def __init__(self):
        # concurrent calls, as AnalyzerClient.analyze_many makes them
        self._pool = ThreadPoolExecutor(max_workers=engine.DEFAULT_WORKERS, thread_name_prefix="gate-pack")
        self._lock = threading.Lock()
        self._client = None
        self._waiting: list = []
        self._calls: dict[int, Future] = {}  # id of the resource -> its analysis
        self._sent: dict[int, engine.Resource] = {}  # id of the resource -> as the engine sent it

    def add(self, resource) -> None:
        if resource.gate_only:  # a Release's objects: the engine never sends them to a pack
            return
        with self._lock:
            if self._client is None:
                self._waiting.append(resource)
            else:
                self._submit(resource)

    def flush(self) -> None:
        """Nothing to do: every resource is sent as it comes."""

    def start(self, client) -> None:
        """The pack is configured: analyze what waited, and from now on each resource at once."""
        with self._lock:
            self._client = client
            for resource in self._waiting:
                self._submit(resource)
            self._waiting = []

    def _submit(self, resource) -> None:
        if id(resource) not in self._calls:
            self._sent[id(resource)] = sent = engine_resource(resource)
            self._calls[id(resource)] = self._pool.submit(self._client.analyze, sent)

    def results(self, resources: list) -> list[list]:
        """The diagnostics of each of `resources`, in that order (any not fed yet are sent now);
        raises the first call that failed."""
        with self._lock:
            for resource in resources:
                self._submit(resource)
        return [self._calls[id(resource)].result() for resource in resources]

    def sent(self, resources: list) -> list[engine.Resource]:
        """`resources` as they were sent to the pack (after `results`: AnalyzeStack sends them again)."""
        return [self._sent[id(resource)] for resource in resources]

    def close(self) -> None:
        """Calls not started are dropped; running ones end with the pack's channel."""
        self._pool.shutdown(wait=False, cancel_futures=True)
