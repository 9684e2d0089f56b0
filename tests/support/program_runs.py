"""A program run that must fail, and everything it said: for the tests of gate/program/."""
from __future__ import annotations

from pathlib import Path

import pytest

from stateless_pack.gate.program.runner import ProgramError, run_program


def failure(app: Path, **kwargs) -> ProgramError:
    with pytest.raises(ProgramError) as err:
        run_program(app, **kwargs)
    return err.value


def everything_said(err: ProgramError) -> str:
    """The error and every diagnostic the program left on the way."""
    return str(err) + "\n" + "\n".join(d.message for d in getattr(err, "diagnostics", ()))
