"""The built wheel's gate running a user's program with the project's own virtualenv, outside this
repository: that venv's package versions are the program's (an older pulumi and pulumi-kubernetes than
the gate's, a marker module only it has, no stateless-pack at all), a virtualenv that is missing is
refused with the remedy, the program's errors show its own frames, its logs are shown, and its
secrets appear in no output."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import fresh_venv

PASSWORD = "e2e-throwaway-pw-4711"
OLD_PULUMI, OLD_KUBERNETES = "3.230.0", "4.18.0"  # pulumi before its outputs' single future (3.23x)


@pytest.fixture(scope="module")
def project_venv(tmp_path_factory) -> Path:
    """The project's virtualenv (made once): older pulumi and pulumi-kubernetes, a marker module."""
    folder = tmp_path_factory.mktemp("project-venv") / "venv"
    bin_dir = fresh_venv(folder)
    done = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           f"pulumi=={OLD_PULUMI}", f"pulumi-kubernetes=={OLD_KUBERNETES}"],
                          capture_output=True, text=True, timeout=1200, cwd="/")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [site] = folder.glob("lib/python*/site-packages")
    (site / "only_in_the_project_venv.py").write_text("WHO = 'the project venv'\n")
    return folder


def user_env(installed: Path) -> dict:
    """The user's shell: the gate's venv activated, nothing of this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STATELESS_PACK_WAIVERS", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join((str(installed), env.get("PATH", "")))
    return env


def make_project(folder: Path, virtualenv: Path, body: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "shop", "runtime": {
        "name": "python", "options": {"toolchain": "pip", "virtualenv": str(virtualenv)}}}))
    (folder / "Pulumi.dev.yaml").write_text(f"config:\n  shop:password: {PASSWORD}\n")
    (folder / "__main__.py").write_text(body)
    (folder / "waivers.yaml").write_text("version: 1\nwaivers: []\n")
    return folder


def preview(installed: Path, project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed / "stateless-pack"), "preview", ".", *args], cwd=project,
                          env=user_env(installed), capture_output=True, text=True, timeout=600)


PROGRAM = """\
import importlib.metadata
import pulumi
import pulumi_kubernetes as k8s
import only_in_the_project_venv

config = pulumi.Config()
password = config.require_secret("password")
print("running in", only_in_the_project_venv.WHO, "with pulumi-kubernetes",
      importlib.metadata.version("pulumi-kubernetes"), "and pulumi", importlib.metadata.version("pulumi"))
pulumi.log.warn("the password is " + config.require("password"))
k8s.core.v1.Secret("db", metadata={"name": "db", "namespace": "shop"}, string_data={"password": password})
k8s.core.v1.ConfigMap("settings", metadata={"name": "settings", "namespace": "shop"},
                      data={"dsn": "postgres://shop:" + config.require("password") + "@db/shop"})
"""


def test_the_program_runs_with_the_projects_virtualenv_and_its_logs_are_shown(installed, project_venv, tmp_path):
    project = make_project(tmp_path / "shop", project_venv, PROGRAM)
    done = preview(installed, project, "--json", "report.json")
    assert done.returncode in (0, 1), done.stderr
    assert (f"running in the project venv with pulumi-kubernetes {OLD_KUBERNETES} and pulumi {OLD_PULUMI}"
            in done.stderr)
    assert "warning: the password is <redacted>" in done.stderr
    assert "Diagnostics:\n  pulumi:pulumi:Stack (shop-dev):" in done.stderr


def test_the_secret_appears_in_no_output(installed, project_venv, tmp_path):
    project = make_project(tmp_path / "shop", project_venv, PROGRAM + (
        "password.apply(lambda p: (_ for _ in ()).throw(ValueError(f'rejected {p!r}')))\n"))
    failed = preview(installed, project)
    assert failed.returncode == 2 and "ValueError: rejected <redacted>" in failed.stderr, failed.stderr
    project = make_project(tmp_path / "shop2", project_venv, PROGRAM + (
        "pulumi.Output.secret('e2e-second-secret-99').apply(lambda s: pulumi.log.info(f'got {s}'))\n"))
    done = preview(installed, project, "--json", "r.json", "--sarif", "r.sarif", "--junit", "r.xml",
                   "--state-export", "state.json", "--out", "manifests")
    assert done.returncode in (0, 1), done.stderr
    assert "got <redacted>" in done.stderr
    texts = {"stdout": done.stdout, "stderr": done.stderr, "failed": failed.stdout + failed.stderr}
    for path in project.rglob("*"):
        if path.is_file() and path.name not in ("Pulumi.dev.yaml", "__main__.py"):
            texts[str(path)] = path.read_text(errors="replace")
    assert len(texts) > 6
    for name, text in texts.items():
        for secret in (PASSWORD, "e2e-second-secret-99"):
            assert secret not in text, f"{secret} leaked into {name}"
    assert json.loads((project / "r.json").read_text())["findings"] is not None


def test_a_program_error_shows_the_programs_frames_only(installed, project_venv, tmp_path):
    project = make_project(tmp_path / "shop", project_venv, "import pulumi\n\ndef f():\n    raise KeyError('nope')\n\nf()\n")
    done = preview(installed, project)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-4:] == [f'  File "{project / "__main__.py"}", line 6, in <module>', "    f()",
                          f'  File "{project / "__main__.py"}", line 4, in f', "    raise KeyError('nope')"] or \
        lines[-1] == "KeyError: 'nope'", done.stderr
    assert "KeyError: 'nope'" in done.stderr
    for ours in ("stateless_pack", "asyncio", "runpy", "pulumi/runtime"):
        assert ours not in done.stderr, done.stderr


def test_a_missing_virtualenv_is_refused_with_the_remedy(installed, tmp_path):
    project = make_project(tmp_path / "shop", tmp_path / "shop" / "venv", PROGRAM)
    (project / "Pulumi.yaml").write_text("name: shop\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    done = preview(installed, project)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"stateless-pack preview: error: Pulumi.yaml sets runtime.options.virtualenv to 'venv', but "
        f"{project / 'venv'} doesn't exist: create it with `python3 -m venv venv && venv/bin/pip install -r "
        "requirements.txt`"]
