"""Write the Kubernetes manifests of a program's resources, one YAML file each, secrets redacted; and
publish what was checked to the `--out` folder.

A run renders into a private folder of its own (whole manifests, which Checkov reads, apart from
partial ones: Pulumi `<Kind>Patch` resources, which only our rules judge), so that a second run can
never change what this run's Checkov reads. `--out` is then a copy of exactly what was checked,
replaced in one rename while this run holds a lock beside it (a second run into the same folder
waits for it; the lock file goes when the run lets go): a folder the gate published before (it
carries a marker file) is replaced as a whole; any other non-empty folder is refused rather than
mixed with (or deleted from).
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import yaml

from stateless_pack.gate import processes
from stateless_pack.gate.program.runner import RegisteredResource
from stateless_pack.gate.program.values import redact, reveal
from stateless_pack.policies.crossguard.manifests import manifests_from
from stateless_pack.policies.redaction import REDACTED

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built in: same text, ~10x faster
MARKER = ".stateless-pack-rendered"
DEFAULT_OUT = Path("out/manifests")
PATCHES = "patches"   # the subfolder of --out for partial manifests
LOCK_WAIT_SECONDS = 120.0
_TOP_ORDER = ("apiVersion", "kind", "metadata")


class RenderError(Exception):
    """The output folder cannot be used."""


@dataclass(frozen=True)
class Rendered:
    resource: RegisteredResource
    manifest: dict        # with `Secret` wrappers: reveal() for rules, redacted() for output
    file: Path | None     # None until written
    partial: bool = False  # from a Patch: only the fields it changes

    def revealed(self) -> dict:
        return reveal(self.manifest)

    def redacted(self) -> dict:
        return redacted_manifest(self.manifest)


def manifests(resources: Iterable[RegisteredResource]) -> list[Rendered]:
    """The manifests of the Kubernetes resources (a List gives one per item); components, providers
    and other packages give none."""
    out = []
    for resource in resources:
        if resource.custom:
            found = manifests_from(resource.type, resource.inputs, resource.name)
            out += [Rendered(resource, manifest, None, found.partial) for manifest in found]
    return out


def redacted_manifest(manifest: dict) -> dict:
    """Pulumi secrets -> REDACTED. A Secret's data/stringData always: a secret output as a whole
    (its key names are part of the secret), a plain mapping value by value."""
    out = redact(manifest, REDACTED)
    if out.get("kind") == "Secret":
        for field in ("data", "stringData"):
            value = manifest.get(field)
            if isinstance(value, dict):
                out[field] = {k: REDACTED for k in value}
            elif value is not None:
                out[field] = REDACTED
    ordered = {k: out[k] for k in _TOP_ORDER if k in out}
    ordered.update((k, v) for k, v in out.items() if k not in ordered)
    return ordered


def _file_name(manifest: dict, taken: set) -> str:
    meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    parts = [str(manifest.get("kind") or "Unknown"), str(meta.get("namespace") or "default"),
             str(meta.get("name") or "unnamed")]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts)).lower()
    name, n = f"{stem}.yaml", 2
    while name in taken:  # two Pulumi resources may render the same object
        name, n = f"{stem}-{n}.yaml", n + 1
    taken.add(name)
    return name


def rendered_text(item: Rendered) -> str:
    """What `render` writes for `item`: its redacted manifest as YAML."""
    return yaml.dump(item.redacted(), Dumper=_DUMPER, sort_keys=False, default_flow_style=False,
                     allow_unicode=True)


def item_keys(items: list[Rendered]) -> list[tuple]:
    """(id of its resource, its place among that resource's manifests) for each item: the same key
    for the same manifest of the same resources, whichever others are rendered with it."""
    seen: dict[int, int] = {}
    keys = []
    for item in items:
        place = seen.get(id(item.resource), 0)
        seen[id(item.resource)] = place + 1
        keys.append((id(item.resource), place))
    return keys


def render(items: Iterable[Rendered], folder: str | Path = DEFAULT_OUT,
           patches: str | Path | None = None, written: Mapping[tuple, Path] | None = None) -> list[Rendered]:
    """Write each manifest (redacted): whole ones into `folder`, partial ones into `patches`
    (default: `folder/patches`). Returns the items with their files. `written`: {item key
    (`item_keys`): a file that already holds its `rendered_text`}, moved into place instead."""
    items, folder = list(items), Path(folder)
    patches = Path(patches) if patches is not None else folder / PATCHES
    taken: dict[Path, set] = {folder: set(), patches: set()}
    done = []
    for key, item in zip(item_keys(items), items):
        target = patches if item.partial else folder
        target.mkdir(parents=True, exist_ok=True)
        path = target / _file_name(item.manifest, taken[target])
        if written and key in written:
            os.replace(written[key], path)
        else:
            path.write_text(rendered_text(item), encoding="utf-8")
        done.append(Rendered(item.resource, item.manifest, path, item.partial))
    folder.mkdir(parents=True, exist_ok=True)  # Checkov's folder exists even when all were patches
    return done


# ---- --out: a copy of what was checked --------------------------------------------------------------

@contextmanager
def output_lock(out: str | Path, wait: float | None = None) -> Iterator[None]:
    """This run alone writes `out` and points its reports at it; a second run waits up to `wait`
    seconds (default LOCK_WAIT_SECONDS), then fails clearly.

    The lock is an flock on `.<name>.lock` beside `out`, removed while still held when the run lets
    go, so that nothing is left beside `out` after the run. A run that was waiting on the removed
    file then holds a lock on a file nobody else can open: it sees that the name no longer leads to
    the file it locked, and locks the one there now (created by whoever comes first)."""
    out = Path(out)
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    give_up = time.monotonic() + wait
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            _wait_for(descriptor, give_up, f"{out} is in use by another stateless-pack run (it has held "
                                           f"{lock_path} for over {wait:g}s): wait, or choose another --out")
            if _names(lock_path, descriptor):
                break
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)  # the run before removed it as it let go: lock the one there now
    try:
        yield
    finally:
        try:
            os.unlink(lock_path)  # while held: no run can lock this file and think it holds `out`
        finally:
            os.close(descriptor)


def _wait_for(descriptor: int, give_up: float, why: str) -> None:
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > give_up:
                raise RenderError(why) from None
            time.sleep(0.1)


def _names(path: Path, descriptor: int) -> bool:
    """`path` still leads to the file open at `descriptor`."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)


def check_replaceable(out: Path) -> None:
    """`out` may be replaced by `publish`: it is missing, empty, or a folder we published."""
    if out.exists() and not out.is_dir():
        raise RenderError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise RenderError(f"{out} is not empty and was not rendered by stateless-pack: "
                          "choose another --out folder")


def publish(rendered: str | Path, out: str | Path, patches: str | Path | None = None) -> None:
    """Replace `out` with a copy of the folder `rendered` (and of `patches`, as `out/patches`), in
    one rename: a reader sees the old folder or the new one, never a mix. Hold `output_lock(out)`."""
    out = Path(out)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = processes.temp_folder(f".{out.name}.new-", parent=out.parent)
    try:
        shutil.copytree(rendered, staging, dirs_exist_ok=True)
        if patches is not None and Path(patches).is_dir():
            shutil.copytree(patches, staging / PATCHES, dirs_exist_ok=True)
        (staging / MARKER).write_text("published by `stateless-pack preview`: replaced on every run\n",
                                      encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # a folder like any other, not mkdtemp's private 0700
        old = None
        if out.exists():
            old = processes.temp_folder(f".{out.name}.old-", parent=out.parent)
            os.rename(out, old / out.name)
        os.rename(staging, out)
        processes.forget(staging)
        if old is not None:
            processes.remove(old)
    finally:
        if staging.exists():  # it did not get into place
            processes.remove(staging)


def published_path(item: Rendered, rendered: Path, out: Path, patches: Path | None = None) -> Path:
    """Where `publish` put the copy of `item`'s file."""
    if item.partial and patches is not None:
        return out / PATCHES / item.file.relative_to(patches)
    return out / item.file.relative_to(rendered)
