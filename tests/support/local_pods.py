"""Run the container of a rendered Deployment as a local process, the way a kubelet would start it.

Everything comes from the manifests: the command and args, the env (literal values, ConfigMap and
Secret references, envFrom with its prefix, the pod IP from the downward API), and the volumes
(ConfigMap and Secret items written as files, emptyDirs as empty folders). Mount paths become
folders under the pod's own directory, and paths in the command and in env values are mapped to
them. What a cluster would supply from outside the manifests (DNS of Services, objects a
provisioner creates) the test gives explicitly: `Objects.add()` and `overrides`.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


class Objects:
    """The ConfigMaps and Secrets pods can read, by (kind, name)."""

    def __init__(self, manifests):
        self.data: dict = {}
        for m in manifests:
            if m.get("kind") in ("ConfigMap", "Secret"):
                self.add(m["kind"], m["metadata"]["name"], _string_data(m))

    def add(self, kind: str, name: str, data: Mapping[str, str]) -> None:
        self.data[(kind, name)] = dict(data)

    def get(self, kind: str, name: str) -> dict:
        try:
            return self.data[(kind, name)]
        except KeyError:
            raise AssertionError(f"the pod refers to {kind} {name!r}, which nothing created") from None


def _string_data(manifest: dict) -> dict:
    data = dict(manifest.get("stringData") or {})
    if manifest["kind"] == "Secret":
        data.update({k: base64.b64decode(v).decode() for k, v in (manifest.get("data") or {}).items()})
    else:
        data.update(manifest.get("data") or {})
    return data


@dataclass
class LocalContainer:
    argv: list
    env: dict
    mounts: dict = field(default_factory=dict)  # mount path -> local folder

    def local(self, path: str) -> str:
        return _map_path(path, self.mounts)


def _map_path(value: str, mounts: Mapping[str, Path]) -> str:
    best = max((m for m in mounts if value == m or value.startswith(m.rstrip("/") + "/")), key=len, default=None)
    return value if best is None else str(mounts[best]) + value[len(best):]


def _volume_folder(volume: dict, objects: Objects, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source = volume.get("secret") or volume.get("configMap")
    if source is None:
        if "emptyDir" not in volume:
            raise AssertionError(f"volume {volume['name']!r}: only Secret, ConfigMap and emptyDir run locally")
        return
    kind, name = ("Secret", source["secretName"]) if "secret" in volume else ("ConfigMap", source["name"])
    data = objects.get(kind, name)
    items = source.get("items") or [{"key": k, "path": k} for k in data]
    for item in items:
        (folder / item["path"]).write_text(data[item["key"]], encoding="utf-8")


def _env_value(entry: dict, objects: Objects, pod_ip: str) -> str:
    if "value" in entry:
        return entry["value"]
    ref = entry["valueFrom"]
    if "fieldRef" in ref:
        assert ref["fieldRef"]["fieldPath"] == "status.podIP", ref
        return pod_ip
    kind, key_ref = ("ConfigMap", ref["configMapKeyRef"]) if "configMapKeyRef" in ref else ("Secret", ref["secretKeyRef"])
    return objects.get(kind, key_ref["name"])[key_ref["key"]]


def materialize(deployment: dict, objects: Objects, root: Path, pod_ip: str,
                overrides: Mapping[str, str] = {}) -> LocalContainer:
    """The single container of `deployment` as argv + env, its volumes as folders under `root`."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    folders = {}
    for volume in pod.get("volumes") or []:
        folders[volume["name"]] = root / "volumes" / volume["name"]
        _volume_folder(volume, objects, folders[volume["name"]])
    mounts = {}
    for mount in container.get("volumeMounts") or []:
        assert "subPath" not in mount, "subPath mounts are not supported locally"
        mounts[mount["mountPath"]] = folders[mount["name"]]
    env = {}
    for source in container.get("envFrom") or []:
        kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
        env.update({source.get("prefix", "") + k: v for k, v in objects.get(kind, ref["name"]).items()})
    for entry in container.get("env") or []:
        env[entry["name"]] = _map_path(_env_value(entry, objects, pod_ip), mounts)
    env.update(overrides)
    env.update({"PATH": os.environ["PATH"], "HOME": str(root), "LANG": "C.UTF-8"})
    if "/tmp" in mounts:
        env["TMPDIR"] = str(mounts["/tmp"])
    argv = [_map_path(word, mounts) for word in (container.get("command") or []) + (container.get("args") or [])]
    return LocalContainer(argv=argv, env=env, mounts=mounts)
