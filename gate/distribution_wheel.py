"""The stateless-pack wheel a pack folder carries: rebuilt from the installed distribution, or given.

`pack new` copies a wheel of this distribution into the pack folder so that the folder installs
without any index serving stateless-pack (a released version may be on no index the user has; a
published pack is installed elsewhere from its requirements.txt alone). Where the wheel comes from:

- `rebuild()`: from the installed distribution itself, offline. Every file its RECORD lists is
  checked against the hash and size recorded at install time (a file changed since is refused:
  the wheel must be what was installed) and written back under its own name; what the installer
  added (RECORD's own entry, INSTALLER, REQUESTED, direct_url.json, byte code, the console script
  it generated from entry_points.txt) is left out, and RECORD is written anew. The wheel has fixed
  timestamps and modes and a sorted order: the same installed files give the same bytes. An
  editable install (a checkout) has no files to rebuild from: it is refused with the remedy.
- `given()`: a wheel file the user names (`--wheel`), checked to be this distribution at this
  version.

Only the stdlib: a wheel is a zip file with a RECORD (the binary distribution format, PEP 427).
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "stateless-pack"
WHEEL_PREFIX = "stateless_pack-"  # the name every wheel of this distribution starts with (PEP 427)
_INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: no build time in the wheel
_REMEDY = ("give a wheel with --wheel PATH (`pip wheel --no-deps -w dist <checkout>` builds one), or install "
           "from an index: --index-url URL or --requirement SPEC")


class WheelError(Exception):
    """No wheel of this distribution can be had this way; the message says why and what to do."""


def wheel_name(version: str, tags: str) -> str:
    return f"{WHEEL_PREFIX}{version}-{tags}.whl"


def _tags(wheel_metadata: str) -> str:
    """The compressed tag set of a WHEEL file (`py3-none-any`)."""
    tags = [line.split(":", 1)[1].strip() for line in wheel_metadata.splitlines() if line.startswith("Tag:")]
    if not tags:
        raise WheelError("the distribution's WHEEL file names no tag")
    parts = [sorted({tag.split("-")[i] for tag in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _editable(dist: metadata.Distribution) -> bool:
    try:
        return bool(json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"))
    except ValueError:
        return False


def _installed_files(dist: metadata.Distribution) -> dict[str, bytes]:
    """{name in the wheel: content} of every file the distribution installed, each checked against
    RECORD; WheelError naming the first one that is missing or changed."""
    scripts = {entry.name for entry in dist.entry_points if entry.group in ("console_scripts", "gui_scripts")}
    found: dict[str, bytes] = {}
    for record in dist.files or []:
        name = record.as_posix()
        if name.endswith(".pyc") or "__pycache__/" in name:
            continue  # byte code the installer compiled
        if name.startswith("../"):
            if Path(name).name in scripts:
                continue  # the installer wrote it from entry_points.txt; it writes it again
            raise WheelError(f"cannot rebuild the wheel: the distribution installed {name} outside site-packages; "
                             + _REMEDY)
        if ".dist-info/" in name and name.rsplit("/", 1)[1] in _INSTALLER_FILES:
            continue
        path = Path(str(record.locate()))
        try:
            data = path.read_bytes()
        except OSError as err:
            raise WheelError(f"cannot rebuild the wheel: {path}: {err.strerror or err}; reinstall stateless-pack, "
                             f"or {_REMEDY}") from None
        if record.hash is None or record.hash.mode != "sha256" or record.hash.value != _digest(data) \
                or (record.size is not None and record.size != len(data)):
            raise WheelError(f"cannot rebuild the wheel: {path} is not the file stateless-pack installed (it "
                             f"differs from the distribution's RECORD); reinstall stateless-pack, or {_REMEDY}")
        found[name] = data
    return found


def _running_distribution() -> metadata.Distribution:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise WheelError(f"stateless-pack is not installed as a distribution; {_REMEDY}") from None
    if _editable(dist):
        raise WheelError(f"stateless-pack is installed in development mode (pip install -e): there is no "
                         f"installed wheel to rebuild; {_REMEDY}")
    here = Path(__file__).resolve()
    if Path(str(dist.locate_file("stateless_pack/gate/distribution_wheel.py"))).resolve() != here:
        raise WheelError(f"the running stateless-pack ({here.parent}) is not the installed distribution "
                         f"({dist.locate_file('')}); {_REMEDY}")
    return dist


def _write(files: dict[str, bytes], dist_info: str, target: Path) -> None:
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name in sorted(files):
        writer.writerow([name, f"sha256={_digest(files[name])}", len(files[name])])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    entries = {**files, f"{dist_info}/RECORD": record.getvalue().encode("utf-8")}
    partial = target.with_name(f".{target.name}.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name in sorted(entries, key=lambda n: (n.startswith(dist_info), n)):  # dist-info last (PEP 427)
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, entries[name])
    os.replace(partial, target)


def rebuild(folder: Path) -> Path:
    """The installed distribution's wheel, rebuilt into `folder`; returns its path."""
    dist = _running_distribution()
    files = _installed_files(dist)
    [dist_info] = {name.split("/", 1)[0] for name in files if name.split("/", 1)[0].endswith(".dist-info")}
    target = folder / wheel_name(dist.version, _tags(files[f"{dist_info}/WHEEL"].decode("utf-8")))
    _write(files, dist_info, target)
    return target


def given(path: Path, version: str) -> Path:
    """`path`, checked to be a wheel of this distribution at `version`; WheelError says what is wrong."""
    if not re.fullmatch(re.escape(WHEEL_PREFIX + version) + r"-[^-/]+-[^-/]+-[^-/]+\.whl", path.name):
        raise WheelError(f"--wheel {path}: not a wheel of stateless-pack {version} by its name "
                         f"(expected {WHEEL_PREFIX}{version}-<tags>.whl)")
    try:
        with zipfile.ZipFile(path) as wheel:
            found = Parser().parsestr(wheel.read(f"{WHEEL_PREFIX}{version}.dist-info/METADATA").decode("utf-8"))
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise WheelError(f"--wheel {path}: not a wheel of stateless-pack {version} ({err})") from None
    if re.sub(r"[-_.]+", "-", str(found["Name"])).lower() != DISTRIBUTION or found["Version"] != version:
        raise WheelError(f"--wheel {path}: holds {found['Name']} {found['Version']}, not stateless-pack {version} "
                         f"(a pack folder is written by the version it installs)")
    return path
