"""gate/cli.py: what every `stateless-pack` command shares."""
from __future__ import annotations

import subprocess
import sys

from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.paths import FIXTURES


def test_a_reader_that_goes_away_is_a_failed_run_without_a_traceback():
    # `stateless-pack scan ... | head -1`: the report cannot be delivered, so the run is not a pass
    scan = subprocess.Popen([sys.executable, "-m", "stateless_pack.gate.cli", "scan", str(FIXTURES / "rules")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = scan.stdout.readline()
    scan.stdout.close()  # as `head -1` does
    stderr = scan.stderr.read()
    assert scan.wait(timeout=300) == 2
    assert first and "Traceback" not in stderr and "Exception ignored" not in stderr
    assert "the output was closed before the report was written" in stderr
