"""Session-wide fixtures that cost a build: the wheel, built once per run, and a fresh virtual
environment outside this checkout with it installed, as a platform team installs stateless-pack."""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from support.paths import REPO

# The tests run as from the activated development venv: a program whose Pulumi.yaml names no
# virtualenv runs with python3 on PATH, as Pulumi's language host runs it (gate/program/interpreter.py).
os.environ["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), os.environ.get("PATH")) if p)


def _run(command: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=1200, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """A folder with the distribution's wheel, built from this checkout with the standard backend."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check",
          "-w", folder, REPO])
    [wheel] = folder.glob("stateless_pack-*.whl")
    return folder


def fresh_venv(where: Path) -> Path:
    """A new virtual environment (with pip); returns its bin folder."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    return where / "bin"


@pytest.fixture(scope="session")
def installed(tmp_path_factory, wheelhouse) -> Path:
    """The bin folder of a fresh venv, outside this checkout, with `pip install stateless-pack`
    from the wheelhouse (its dependencies from the package index)."""
    bin_dir = fresh_venv(tmp_path_factory.mktemp("user-venv") / "venv")
    _run([bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "--find-links", wheelhouse, "stateless-pack"], cwd="/")
    return bin_dir
