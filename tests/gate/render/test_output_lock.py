"""The lock on `--out`: runs into the same folder take turns, and nothing is left beside the folder
once a run lets go (the issue: a `.<name>.lock` file stayed next to every `--out`)."""
from __future__ import annotations

import threading
import time

import pytest

from stateless_pack.gate.render import manifests as render


def beside(out) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def test_nothing_is_left_beside_out_after_a_run_or_a_failed_one(tmp_path):
    out = tmp_path / "m"
    with render.output_lock(out):
        assert beside(out) == [".m.lock"]  # held while the run publishes and reports
    assert beside(out) == []
    with pytest.raises(RuntimeError):
        with render.output_lock(out):
            raise RuntimeError("the report could not be written")
    assert beside(out) == []


def test_a_second_run_still_fails_clearly_when_the_first_keeps_out(tmp_path):
    out = tmp_path / "m"
    with render.output_lock(out):
        started = time.monotonic()
        with pytest.raises(render.RenderError, match=r"m is in use by another stateless-pack run"):
            with render.output_lock(out, wait=0.5):
                pass
        assert 0.5 <= time.monotonic() - started < 5
    assert beside(out) == []


def test_runs_that_contend_for_one_out_take_turns(tmp_path):
    """Six runs, fifteen turns each, into one folder: never two inside at once, although each run
    removes the lock file as it lets go while others wait on it."""
    out, inside, overlaps, turns = tmp_path / "m", [], [], []
    guard = threading.Lock()

    def run(name: str) -> None:
        for _ in range(15):
            with render.output_lock(out, wait=60):
                with guard:
                    inside.append(name)
                    if len(inside) > 1:
                        overlaps.append(tuple(inside))
                time.sleep(0.002)
                with guard:
                    inside.remove(name)
                    turns.append(name)

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert overlaps == [] and len(turns) == 90
    assert beside(out) == []
