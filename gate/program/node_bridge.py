"""A Node.js program's mocks answered by the Python host's own monitor and engine (`gate/program/child.py`).

The program runs in `node` under `@pulumi/pulumi`'s own mocks (`gate/program/node_host.js`), whose
MockMonitor and engine forward every call, as the protobuf message the SDK built, over a pipe to this
module in the program's Python host. Here the same `Monitor` and `Engine` that host Python programs
answer it: URNs as the engine makes them, the provider's auto-names, secrets marked, source positions,
yaml/v2 components and Helm charts and kustomizations expanded, each resource announced to the gate as
it is registered. So both languages are checked by one implementation, and what reaches the gate is
the same messages. The node process is a child of this host, so the supervisor ends it (and whatever
the program started) with the run.

Pipes, one JSON line per message: node -> host `{"call": id, "method": M, "request": base64}`,
`{"secrets": [...]}` (values the program made secret, announced before it can print them) and, last,
`{"end": {}}` or `{"end": {"error": text, "kind": "program" | "gate", "exception": name}}`;
host -> node `{"id": id, "response": base64}` or `{"id": id, "error": text}`.
"""
from __future__ import annotations

import base64
import contextvars
import json
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, resource_pb2

from stateless_pack.gate.program.child import Engine, Monitor

WORKERS = 8  # a chart's expansion runs helm: other registrations go on meanwhile
_REQUESTS = {
    "RegisterResource": resource_pb2.RegisterResourceRequest,
    "ReadResource": resource_pb2.ReadResourceRequest,
    "Invoke": resource_pb2.ResourceInvokeRequest,
    "RegisterResourceOutputs": resource_pb2.RegisterResourceOutputsRequest,
    "Log": engine_pb2.LogRequest,
}


class _Bridge:
    """Answers the node process's calls on worker threads, in the host's context."""

    def __init__(self, monitor: Monitor, responses):
        self.handlers: dict[str, Callable[[Any], Any]] = {
            name: getattr(monitor, name) for name in _REQUESTS if name != "Log"}
        self.handlers["Log"] = Engine(monitor.recording).Log
        self.channel = monitor.recording.channel
        self.responses, self.lock = responses, threading.Lock()
        self.context = contextvars.copy_context()  # the SDK's settings, as `_configure` left them
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="node-call")
        self.end: dict | None = None

    def take(self, message: dict) -> None:
        if "call" in message:
            self.pool.submit(self.context.copy().run, self._answer, message)
        elif "secrets" in message:
            self.channel.announce(message["secrets"])
        elif "end" in message:
            self.end = message["end"] if isinstance(message["end"], dict) else {}

    def _answer(self, message: dict) -> None:
        reply: dict = {"id": message["call"]}
        try:
            request = _REQUESTS[message["method"]].FromString(base64.b64decode(message["request"]))
            response = self.handlers[message["method"]](request) or empty_pb2.Empty()
            reply["response"] = base64.b64encode(response.SerializeToString()).decode()
        except Exception as exc:  # the SDK rejects the call with it: the program fails, as it would
            reply["error"] = str(exc) or type(exc).__name__
        line = (json.dumps(reply) + "\n").encode()
        with self.lock:
            try:
                _write_all(self.responses, line)
            except OSError:
                pass  # node is gone: its exit says why

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def host(spec: dict, monitor: Monitor) -> dict | None:
    """Run the Node.js program of `spec` against `monitor`; its failure as the answer, or None."""
    node = spec["node"]
    to_host, from_node = os.pipe()
    to_node, from_host = os.pipe()
    try:
        process = subprocess.Popen(
            [node["node"], *node["nodeargs"], node["host"], str(from_node), str(to_node)],
            cwd=node["pwd"], stdin=subprocess.PIPE, pass_fds=(from_node, to_node),
            env={**os.environ, **node["environment"]})
    except OSError as err:
        for fd in (to_host, from_node, to_node, from_host):
            os.close(fd)
        return {"error": f"cannot start {node['node']}: {err.strerror or err}", "kind": "gate"}
    os.close(from_node)
    os.close(to_node)
    bridge = _Bridge(monitor, from_host)
    threading.Thread(target=_feed, args=(process.stdin, json.dumps(spec).encode()), daemon=True).start()
    with os.fdopen(to_host, "rb") as calls:
        for line in calls:
            try:
                bridge.take(json.loads(line))
            except (ValueError, KeyError, TypeError):
                bridge.end = {"error": "the Node.js host sent a garbled message", "kind": "gate"}
                process.kill()
                break
    bridge.close()
    os.close(from_host)
    code = process.wait()
    if bridge.end is None:
        return {"error": f"node exited with code {code} before the program finished", "kind": "program"}
    return bridge.end or None


def _feed(stream, data: bytes) -> None:
    try:
        with stream:
            stream.write(data)
    except OSError:
        pass  # node died before reading its spec: its exit says why
