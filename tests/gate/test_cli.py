"""gate/cli.py: what every `stateless-pack` command shares."""
from __future__ import annotations

import subprocess
import sys

import pytest

from stateless_pack.gate import cli
from stateless_pack.gate.commands import explain

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


def test_a_failure_in_the_gates_own_code_is_one_line_unless_asked_for_the_traceback(capsys, monkeypatch):
    def broken(args):
        raise KeyError("rule")

    real_register = explain.register

    def register(sub):  # the real subcommand's parser, with a function that fails as a bug would
        real_register(sub)
        sub.choices["explain"].set_defaults(func=broken)

    monkeypatch.setattr(explain, "register", register)
    monkeypatch.delenv(cli.DEBUG, raising=False)
    assert cli.main(["explain", "min-replicas"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "stateless-pack: internal error (KeyError: 'rule'); nothing was checked. Run again with "
        "STATELESS_PACK_DEBUG=1 for the traceback and report it"]
    monkeypatch.setenv(cli.DEBUG, "1")
    with pytest.raises(KeyError):
        cli.main(["explain", "min-replicas"])
