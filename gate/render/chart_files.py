"""A Helm chart's own files (templates, values, Chart.yaml), read from its folder or its `.tgz`, subcharts included.

What the findings of a rendered chart point back into: helm names each rendered document by its
template (`webapp/charts/worker/templates/workload.yaml`: the top chart's name, then `charts/<key>`
per subchart, where the key is the dependency's alias or name, as in the values), and `source()`
finds that file here. Subcharts are folders or archives in `charts/`. Nothing is extracted to disk:
archives are read in memory, up to `MAX_ARCHIVE_BYTES` (a bigger chart renders all the same; its
documents just have no template lines).
"""
from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass, field

import yaml

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024   # of files read from one archive, after decompression
_READ = ("Chart.yaml", "values.yaml")  # besides templates/, crds/ and charts/


@dataclass
class ChartFiles:
    name: str                       # Chart.yaml's name
    version: str                    # Chart.yaml's version
    where: str                      # the chart's folder (files on disk), or "" inside an archive
    files: dict[str, str]           # chart-relative path -> text (templates/, crds/, values.yaml, Chart.yaml)
    subcharts: dict[str, "ChartFiles"] = field(default_factory=dict)  # by alias or name
    archive: str = ""               # the archive it was read from, if any

    def source(self, helm_name: str) -> tuple["ChartFiles", list[str], str] | None:
        """(the (sub)chart, the subchart keys from the top chart, the chart-relative path) of
        helm's template name, or None when the chart has no such file."""
        parts = helm_name.split("/")
        if len(parts) < 2 or parts[0] != self.name:
            return None
        chart, keys, parts = self, [], parts[1:]
        while len(parts) > 2 and parts[0] == "charts":
            sub = chart.subcharts.get(parts[1])
            if sub is None:
                return None
            chart, keys, parts = sub, [*keys, parts[1]], parts[2:]
        relative = "/".join(parts)
        return (chart, keys, relative) if relative in chart.files else None

    def file_path(self, relative: str) -> str:
        """The file on disk of a chart-relative path, or "" when the chart is an archive."""
        return os.path.join(self.where, *relative.split("/")) if self.where else ""


def read_chart(path: str) -> ChartFiles | None:
    """The files of the chart folder or archive at `path`; None if it cannot be read as a chart
    (helm rendered it, so that only costs the template lines)."""
    try:
        if os.path.isdir(path):
            return _from_files(_folder_files(path), where=path)
        with open(path, "rb") as handle:
            return _from_archive(handle.read(), archive=path)
    except (OSError, tarfile.TarError, yaml.YAMLError, UnicodeDecodeError, ValueError):
        return None


def _wanted(relative: str) -> bool:
    return relative in _READ or relative.startswith(("templates/", "crds/", "charts/"))


def _folder_files(root: str) -> dict[str, bytes]:
    found = {}
    for folder, subfolders, names in os.walk(root, followlinks=True):
        subfolders.sort()
        for name in names:
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            if _wanted(relative) and os.path.isfile(full):
                with open(full, "rb") as handle:
                    found[relative] = handle.read()
    return found


def _from_archive(data: bytes, archive: str = "") -> ChartFiles:
    """A chart packaged by `helm package`: one top folder (the chart's name) holding its files."""
    files, total = {}, 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            parts = member.name.split("/", 1)
            if not member.isfile() or len(parts) != 2 or not _wanted(parts[1]):
                continue
            total += member.size
            if total > MAX_ARCHIVE_BYTES:
                raise ValueError(f"{archive or 'a subchart archive'} holds more than {MAX_ARCHIVE_BYTES} bytes")
            extracted = tar.extractfile(member)
            if extracted is not None:
                files[parts[1]] = extracted.read()
    chart = _from_files(files, where="")
    chart.archive = archive
    return chart


def _from_files(files: dict[str, bytes], where: str) -> ChartFiles:
    meta = yaml.safe_load(files["Chart.yaml"]) or {}
    own = {path: data.decode("utf-8", errors="replace") for path, data in files.items()
           if not path.startswith("charts/")}
    chart = ChartFiles(name=str(meta.get("name", "")), version=str(meta.get("version", "")), where=where,
                       files=own)
    by_name: dict[str, ChartFiles] = {}
    for sub in _subcharts(files, where):
        by_name.setdefault(sub.name, sub)
    for dependency in meta.get("dependencies") or []:
        if isinstance(dependency, dict) and dependency.get("name") in by_name:
            chart.subcharts[str(dependency.get("alias") or dependency["name"])] = by_name[dependency["name"]]
    for name, sub in by_name.items():  # a chart in charts/ that Chart.yaml does not list renders too
        if not any(s is sub for s in chart.subcharts.values()):
            chart.subcharts[name] = sub
    return chart


def _subcharts(files: dict[str, bytes], where: str) -> list[ChartFiles]:
    folders: dict[str, dict[str, bytes]] = {}
    found = []
    for path, data in sorted(files.items()):
        parts = path.split("/", 2)
        if len(parts) == 2 and parts[1].endswith(".tgz"):
            found.append(_from_archive(data, archive=os.path.join(where, "charts", parts[1]) if where else ""))
        elif len(parts) == 3:
            folders.setdefault(parts[1], {})[parts[2]] = data
    for folder, sub_files in folders.items():
        if "Chart.yaml" in sub_files:
            found.append(_from_files(sub_files, where=os.path.join(where, "charts", folder) if where else ""))
    return found
