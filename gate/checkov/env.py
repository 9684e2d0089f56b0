"""Finding Checkov, and provisioning its private environment (the way pre-commit or pipx isolate a tool).

Checkov pins `packaging<24` and recent Pulumi needs `packaging>=26`, so Checkov never shares the
gate's environment. `stateless-pack checkov install` builds a virtual environment from the
requirements shipped in the wheel (`gate/checkov/checkov-requirements.txt`, an exact Checkov version) into
the user's cache, named by the requirements' hash: a new pin gets a new environment, an existing
one is reused. It is built in a temporary folder and renamed into place, so a half-built
environment is never used.

The gate finds Checkov in this order: `--checkov PATH`, `$STATELESS_PACK_CHECKOV`, the provisioned
environment, `checkov` on PATH. When none is there it says exactly how to get one.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from importlib import resources
from pathlib import Path

from stateless_pack.gate.user_cache import cache_root

CHECKOV_ENV_VAR = "STATELESS_PACK_CHECKOV"
REQUIREMENTS_NAME = "checkov-requirements.txt"
_STAMP = ".stateless-pack-checkov"


class CheckovNotFound(RuntimeError):
    """No Checkov where the gate looks; the message says how to get one."""


def requirements_text() -> str:
    return resources.files("stateless_pack.gate.checkov").joinpath(REQUIREMENTS_NAME).read_text(encoding="utf-8")


def default_env_dir(environ=os.environ) -> Path:
    digest = hashlib.sha256(requirements_text().encode()).hexdigest()[:12]
    return cache_root(environ) / f"checkov-{digest}"


def env_checkov(env_dir: Path) -> Path:
    return env_dir / "bin" / "checkov"


def is_provisioned(env_dir: Path) -> bool:
    stamp = env_dir / _STAMP
    return (env_checkov(env_dir).is_file() and stamp.is_file()
            and stamp.read_text(encoding="utf-8") == requirements_text())


def find_checkov(explicit: str | None = None, environ=os.environ) -> Path:
    """The Checkov executable to run, or CheckovNotFound saying how to get one."""
    for given, what in ((explicit, "--checkov"), (environ.get(CHECKOV_ENV_VAR), f"${CHECKOV_ENV_VAR}")):
        if given:
            path = Path(given).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return path
            raise CheckovNotFound(f"{what} names {path}, which is not an executable Checkov")
    provisioned = default_env_dir(environ)
    if is_provisioned(provisioned):
        return env_checkov(provisioned)
    on_path = shutil.which("checkov", path=environ.get("PATH"))
    if on_path:
        return Path(on_path)
    raise CheckovNotFound(
        f"Checkov is not installed where the gate looks. Run `stateless-pack checkov install` (a private "
        f"environment in {provisioned}), or give one with --checkov PATH or ${CHECKOV_ENV_VAR}.")


def install(env_dir: Path | None = None, *, python: str = sys.executable, force: bool = False,
            log=print) -> Path:
    """Provision Checkov into `env_dir` (default: the cache); returns its executable.

    Built in place (a venv's scripts name its own path) under a lock, with the stamp written last:
    an interrupted build has no stamp, counts as absent and is rebuilt from scratch.
    """
    import fcntl

    env_dir = Path(env_dir) if env_dir is not None else default_env_dir()
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(env_dir.parent / f".{env_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second install waits, then finds it done
        if is_provisioned(env_dir) and not force:
            log(f"Checkov is already provisioned in {env_dir}")
            return env_checkov(env_dir)
        shutil.rmtree(env_dir, ignore_errors=True)
        if python == sys.executable:
            venv.EnvBuilder(with_pip=True).create(env_dir)
        else:
            subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
        log(f"installing Checkov into {env_dir} (this takes a minute)")
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
            requirements.write(requirements_text())
            requirements.flush()
            done = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                                   "--disable-pip-version-check", "-r", requirements.name],
                                  capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip could not install Checkov into {env_dir}:\n{done.stdout}{done.stderr}")
        (env_dir / _STAMP).write_text(requirements_text(), encoding="utf-8")
    return env_checkov(env_dir)
