"""The program's resources handed on as it registers them, so that later stages work while it still runs.

`run_program(on_resource=feed.put)` announces each resource from the thread that reads the program's
answer; the feed hands it, on a thread of its own (the reader never waits), to every sink that can
start on one resource at once: Checkov's input files (`gate/checkov/feed.py`) and the pack's
Remediate+Analyze (`gate/pack/feed.py`). A sink that fails stops the feed; `close` raises its error.
"""
from __future__ import annotations

import queue
import threading
from typing import Protocol

_END = object()


class Sink(Protocol):
    def add(self, resource) -> None: ...

    def flush(self) -> None: ...


class ResourceFeed:
    def __init__(self, *sinks: Sink):
        self._sinks = sinks
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gate-feed", daemon=True)
        self._thread.start()

    def put(self, resource) -> None:
        """Hand `resource` on (never blocks, never raises)."""
        self._queue.put(resource)

    def _run(self) -> None:
        for resource in iter(self._queue.get, _END):
            if self._error is None:
                try:
                    for sink in self._sinks:
                        sink.add(resource)
                except Exception as exc:  # raised by close()
                    self._error = exc

    def close(self) -> None:
        """Wait until every resource put so far is handed on and the sinks are flushed; raises
        the error of a sink that failed."""
        self.stop()
        if self._error is None:
            for sink in self._sinks:
                sink.flush()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """End the feed's thread once it has handed on what it has (again: nothing happens)."""
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
