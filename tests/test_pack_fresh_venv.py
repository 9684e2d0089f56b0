"""The pack runs from a virtual environment built from policies/requirements.txt alone, as the
Pulumi CLI builds it for `pulumi preview --policy-pack policies` (slow: installs from PyPI)."""
from __future__ import annotations

import subprocess
import sys
import venv

import pytest

from policies.gate.engine import launch_pack
from pack_harness import PACK_DIR, resource_of


@pytest.fixture(scope="session")
def fresh_python(tmp_path_factory) -> str:
    """A venv holding only the pack's requirements (built once per test session)."""
    where = tmp_path_factory.mktemp("pack-venv") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = str(where / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", str(PACK_DIR / "requirements.txt")],
        capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        pytest.fail(f"pip install -r policies/requirements.txt failed:\n{install.stdout}\n{install.stderr}")
    return python


def test_fresh_venv_does_not_have_the_project_installed(fresh_python):
    """Otherwise the next test would not prove that the pack finds `policies` by itself."""
    probe = subprocess.run([fresh_python, "-c", "import policies"], cwd="/", capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'policies'" in probe.stderr


def test_pack_from_fresh_venv_reports_a_violation(fresh_python):
    failing = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"selector": {"app": "web"}, "sessionAffinity": "ClientIP"}}
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=True, python=fresh_python) as pack:
        info = pack.client.get_analyzer_info()
        assert info.name == "stateless-pack" and "no-sticky-service" in {p.name for p in info.policies}
        pack.client.configure()
        diags = pack.client.analyze(resource_of(failing))
        assert [(d.policy_name, d.enforcement_level) for d in diags] == [("no-sticky-service", "mandatory")]
        assert pack.process.args[0] == fresh_python and sys.executable != fresh_python
