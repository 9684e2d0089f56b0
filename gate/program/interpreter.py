"""The Python a project's program runs with, chosen as Pulumi's Python language host chooses it.

`Pulumi.yaml`'s `runtime.options` (pulumi/sdk/python/toolchain):
- `toolchain: pip` (the default) with `virtualenv: DIR`: DIR/bin/python, DIR relative to the project
  folder. Without `virtualenv`: `$PULUMI_PYTHON_CMD`, else `python3`, else `python` on PATH, as the host
  does (not the gate's own interpreter: the program must see the packages it sees under the CLI).
- `toolchain: poetry`: the environment `poetry env info --path` names, asked in the program's folder.
- `toolchain: uv`: `virtualenv` if set, else `.venv` next to the nearest `uv.lock`, else next to the
  nearest `pyproject.toml`, else in the project folder.
A virtualenv runs activated (its bin first on PATH, VIRTUAL_ENV set, PYTHONHOME unset). The gate never
creates or installs an environment (the host does on `pulumi install`; `uv run` would sync first): one
that is missing is an error with the command that makes it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from stateless_pack.gate import processes
from stateless_pack.gate.program.project import ProgramError

_POETRY_SECONDS = 60


@dataclass(frozen=True)
class Interpreter:
    python: str
    how: str                   # how it was chosen, for messages ("" when the caller named it)
    virtualenv: Path | None = None

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with the virtualenv activated, as the host runs the program."""
        if self.virtualenv is None:
            return dict(base)
        env = {k: v for k, v in base.items() if k != "PYTHONHOME"}
        env["PATH"] = os.pathsep.join(p for p in (str(self.virtualenv / "bin"), base.get("PATH", "")) if p)
        env["VIRTUAL_ENV"] = str(self.virtualenv)
        return env


def _options(project: Mapping) -> dict:
    runtime = project.get("runtime")
    options = runtime.get("options") if isinstance(runtime, dict) else None
    if options is not None and not isinstance(options, dict):
        raise ProgramError("Pulumi.yaml: runtime.options must be a mapping")
    return options or {}


def _in_virtualenv(folder: Path, how: str, remedy: str) -> Interpreter:
    python = folder / "bin" / "python"
    if not python.is_file():
        state = "doesn't exist" if not folder.exists() else "is not a virtual environment (no bin/python)"
        raise ProgramError(f"{how}, but {folder} {state}: create it with `{remedy}`")
    return Interpreter(str(python), how, virtualenv=folder)


def _on_path(environ: Mapping[str, str]) -> Interpreter:
    names = [environ["PULUMI_PYTHON_CMD"]] if environ.get("PULUMI_PYTHON_CMD") else ["python3", "python"]
    for name in names:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return Interpreter(found, f"{name} on PATH (Pulumi.yaml names no virtualenv)")
    raise ProgramError(f"no {' or '.join(names)} on PATH to run the program with (Pulumi.yaml names no "
                       "virtualenv): set runtime.options.virtualenv in Pulumi.yaml or put Python on PATH")


def _poetry(folder: Path, environ: Mapping[str, str]) -> Interpreter:
    poetry = shutil.which("poetry", path=environ.get("PATH"))
    if poetry is None:
        raise ProgramError("Pulumi.yaml sets runtime.options.toolchain to poetry, but poetry is not on PATH")
    child = processes.popen([poetry, "env", "info", "--path"], cwd=folder, env=dict(environ),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = child.communicate(timeout=_POETRY_SECONDS)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"`poetry env info --path` did not answer within {_POETRY_SECONDS}s") from None
    finally:
        processes.stop(child)
    if child.returncode != 0 or not out.strip():
        raise ProgramError(f"the project's poetry environment does not exist ({(err or out).strip()[:300]}): "
                           "create it with `poetry install`")
    return _in_virtualenv(Path(out.strip()), "toolchain poetry (Pulumi.yaml)", "poetry install")


def _nearest(start: Path, name: str) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / name).exists():
            return folder
    return None


def _uv(project_dir: Path, virtualenv: str | None) -> Interpreter:
    if virtualenv:
        folder = project_dir / virtualenv
    else:
        anchor = _nearest(project_dir, "uv.lock") or _nearest(project_dir, "pyproject.toml") or project_dir
        folder = anchor / ".venv"
    return _in_virtualenv(folder, "toolchain uv (Pulumi.yaml)", "uv sync")


def for_project(project_dir: Path, project: Mapping, program_dir: Path | None = None,
                environ: Mapping[str, str] | None = None) -> Interpreter:
    """The interpreter for the project in `project_dir` (Pulumi.yaml's folder); `program_dir`: the
    folder of its `main` (poetry is asked there)."""
    environ = os.environ if environ is None else environ
    options = _options(project)
    toolchain = options.get("toolchain") or "pip"
    virtualenv = options.get("virtualenv")
    if virtualenv is not None and not isinstance(virtualenv, str):
        raise ProgramError("Pulumi.yaml: runtime.options.virtualenv must be a path")
    if toolchain == "poetry":
        return _poetry(program_dir or project_dir, environ)
    if toolchain == "uv":
        return _uv(project_dir, virtualenv)
    if toolchain != "pip":
        raise ProgramError(f"Pulumi.yaml: runtime.options.toolchain {toolchain!r} is not pip, poetry or uv")
    if not virtualenv:
        return _on_path(environ)
    return _in_virtualenv(project_dir / virtualenv,
                          f"Pulumi.yaml sets runtime.options.virtualenv to {virtualenv!r}",
                          f"python3 -m venv {virtualenv} && {virtualenv}/bin/pip install -r requirements.txt")
