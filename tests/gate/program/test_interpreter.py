"""gate/program/interpreter.py: the Python a program runs with, chosen as Pulumi's language host chooses it;
gate/program/child_package.py: the child's code importable there without touching the project's packages."""
from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

import pytest

from stateless_pack.gate.program import child_package, supervisor
from stateless_pack.gate.program.interpreter import for_project
from stateless_pack.gate.program.runner import ProgramError, run_program
from support.paths import REPO
from support.programs import pulumi_program


def fake_venv(folder: Path) -> Path:
    """A folder shaped like a virtualenv (bin/python): the choice is all these tests look at."""
    (folder / "bin").mkdir(parents=True)
    python = folder / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return python


def options(**values) -> dict:
    return {"name": "p", "runtime": {"name": "python", "options": values}}


def test_pip_virtualenv_is_relative_to_the_project_and_runs_activated(tmp_path):
    python = fake_venv(tmp_path / "venv")
    chosen = for_project(tmp_path, options(toolchain="pip", virtualenv="venv"), environ={})
    assert chosen.python == str(python)
    env = chosen.environment({"PATH": "/usr/bin", "PYTHONHOME": "/elsewhere", "VIRTUAL_ENV": "/other"})
    assert env == {"PATH": f"{tmp_path / 'venv' / 'bin'}{os.pathsep}/usr/bin", "VIRTUAL_ENV": str(tmp_path / "venv")}


@pytest.mark.parametrize("make, state", [(lambda p: None, "doesn't exist"),
                                         (lambda p: p.mkdir(), "is not a virtual environment")])
def test_a_named_virtualenv_that_is_missing_is_refused_with_the_remedy(tmp_path, make, state):
    make(tmp_path / "venv")
    with pytest.raises(ProgramError) as err:
        for_project(tmp_path, options(virtualenv="venv"), environ={})
    assert str(err.value) == (f"Pulumi.yaml sets runtime.options.virtualenv to 'venv', but {tmp_path / 'venv'} "
                              f"{state}{' (no bin/python)' if 'not' in state else ''}: create it with "
                              "`python3 -m venv venv && venv/bin/pip install -r requirements.txt`")


def test_without_a_virtualenv_the_python_on_path_runs_it_as_the_host_does(tmp_path):
    python = fake_venv(tmp_path / "somewhere")
    (python.parent / "python3").symlink_to(python)
    chosen = for_project(tmp_path, {"name": "p", "runtime": "python"}, environ={"PATH": str(python.parent)})
    assert chosen.python == str(python.parent / "python3") and "python3 on PATH" in chosen.how
    assert for_project(tmp_path, {"name": "p", "runtime": "python"},
                       environ={"PATH": str(python.parent), "PULUMI_PYTHON_CMD": "python"}).python == str(python)
    with pytest.raises(ProgramError, match="no python3 or python on PATH"):
        for_project(tmp_path, {"name": "p", "runtime": "python"}, environ={"PATH": str(tmp_path / "empty")})


def test_uv_uses_the_venv_next_to_the_nearest_lock_or_pyproject(tmp_path):
    project = tmp_path / "repo" / "infra"
    project.mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text("[project]\nname='x'\n")
    with pytest.raises(ProgramError, match=r"\.venv doesn't exist: create it with `uv sync`"):
        for_project(project, options(toolchain="uv"), environ={})
    python = fake_venv(tmp_path / "repo" / ".venv")
    assert for_project(project, options(toolchain="uv"), environ={}).python == str(python)
    (project / "uv.lock").write_text("")
    assert for_project(project, options(toolchain="uv", virtualenv="../.venv"), environ={}).python == \
        str(project / ".." / ".venv" / "bin" / "python")
    python = fake_venv(project / ".venv")
    assert for_project(project, options(toolchain="uv"), environ={}).python == str(python)


def test_poetry_asks_poetry_for_its_environment_in_the_program_folder(tmp_path):
    python = fake_venv(tmp_path / "poetry-env")
    tools = tmp_path / "tools"
    tools.mkdir()
    poetry = tools / "poetry"  # answers `env info --path` as poetry does, and records where it was asked
    poetry.write_text(f"#!/bin/sh\n[ \"$*\" = 'env info --path' ] && pwd > {tmp_path / 'asked-in'} && "
                      f"echo {tmp_path / 'poetry-env'}\n")
    poetry.chmod(0o755)
    program = tmp_path / "src"
    program.mkdir()
    chosen = for_project(tmp_path, options(toolchain="poetry"), program, environ={"PATH": str(tools)})
    assert chosen.python == str(python) and (tmp_path / "asked-in").read_text().strip() == str(program)
    with pytest.raises(ProgramError, match="poetry is not on PATH"):
        for_project(tmp_path, options(toolchain="poetry"), environ={"PATH": str(tmp_path / "empty")})


def test_a_missing_virtualenv_fails_the_run_before_anything_starts(tmp_path):
    app = pulumi_program(tmp_path / "app", "import pulumi\n")
    (app / "Pulumi.yaml").write_text("name: p\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    with pytest.raises(ProgramError, match="create it with `python3 -m venv venv"):
        run_program(app)


def test_an_interpreter_without_pulumi_is_refused_in_one_line(tmp_path):
    app = pulumi_program(tmp_path / "app", "import pulumi\n")
    bare = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter this venv was made from: no pulumi
    with pytest.raises(ProgramError) as err:
        run_program(app, python=str(bare))
    assert str(err.value) == (f"the program's interpreter {bare} has no pulumi: install the project's "
                              f"requirements into it ({bare} -m pip install -r requirements.txt)")


# ---- the child's private package ------------------------------------------------------------------------

def test_the_child_package_holds_only_our_modules_renamed(tmp_path):
    child_package.write(tmp_path)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py"))
    assert all(f.startswith(child_package.PRIVATE_NAME + "/") for f in files)
    assert f"{child_package.PRIVATE_NAME}/gate/program/child.py" in files
    assert not any("/commands/" in f or "/checkov/" in f or "/rules/" in f for f in files)
    for path in tmp_path.rglob("*.py"):
        assert not re.search(r"^\s*(from|import) stateless_pack\b", path.read_text(), re.MULTILINE), path


def test_a_projects_own_stateless_pack_neither_breaks_nor_replaces_the_child(tmp_path):
    """The program's folder comes first on its sys.path: a package named like ours there is the
    program's, and the gate's child code still runs from its private copy."""
    app = pulumi_program(tmp_path / "app", """\
        import pulumi, pulumi_kubernetes as k8s
        import stateless_pack
        k8s.core.v1.ConfigMap("cm", metadata={"name": "cm"}, data={"from": stateless_pack.WHOSE})
        """, files={"stateless_pack/__init__.py": "WHOSE = 'the project'\n"})
    run = run_program(app)
    [cm] = [r for r in run.resources if r.name == "cm"]
    assert cm.inputs["data"] == {"from": "the project"}


def test_the_oldest_pulumi_the_child_accepts_is_the_distributions_floor():
    floor = re.search(r'"pulumi>=([\d.]+),', (REPO / "pyproject.toml").read_text()).group(1)
    assert supervisor.MIN_PULUMI == tuple(int(p) for p in floor.split("."))
