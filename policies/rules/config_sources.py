"""The ConfigMaps and Secrets of a stack or scan, looked up the way a pod template refers to them.

By kind, namespace and name, with their data as text (a Secret's decoded; bytes that are not UTF-8
read with replacement characters, so that a file in another encoding is still read, never skipped).

Lookups are three-valued like the other stack indexes: the data (a mapping), None when the stack
holds no such object (it is made elsewhere: nothing to check), or UNKNOWN during a preview when the
object, its data, or which object is meant is not known yet.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from stateless_pack.policies.manifest import UNKNOWN, get, kind_of, mapping
from stateless_pack.policies.rules.replica_indexes import namespace_or_unknown

KINDS = ("ConfigMap", "Secret")


def _decoded(value: Any) -> Any:
    """A base64 value (Secret `data`, ConfigMap `binaryData`) as text (None if it is not base64,
    which the API server refuses)."""
    if not isinstance(value, str):
        return value if value is UNKNOWN else None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def data_of(manifest, files: bool = False) -> Any:
    """A ConfigMap's `data`, or a Secret's `data` (decoded) overlaid with its `stringData`, as the API
    server merges them; UNKNOWN if any of it is unknown as a whole. `files`: as a volume shows
    them, a ConfigMap's `binaryData` too (envFrom leaves it out)."""
    data = get(manifest, "data")
    if kind_of(manifest) == "ConfigMap":
        binary = get(manifest, "binaryData") if files else None
        if data is UNKNOWN or binary is UNKNOWN:
            return UNKNOWN
        return {**{key: _decoded(value) for key, value in mapping(binary).items()}, **mapping(data)}
    string_data = get(manifest, "stringData")
    if data is UNKNOWN or string_data is UNKNOWN:
        return UNKNOWN
    merged = {key: _decoded(value) for key, value in mapping(data).items()}
    merged.update(mapping(string_data))
    return merged


class ConfigSources:
    """The ConfigMaps and Secrets among `manifests`, indexed once by (kind, namespace, name)."""

    def __init__(self, manifests):
        self._by_key: dict = {}
        self._uncertain: dict = {kind: [] for kind in KINDS}  # name or namespace unknown during preview
        for doc in manifests:
            kind = kind_of(doc)
            if kind not in KINDS:
                continue
            namespace, name = namespace_or_unknown(doc), get(doc, "metadata", "name")
            if namespace is UNKNOWN or name is UNKNOWN:
                self._uncertain[kind].append(doc)
            elif isinstance(name, str):
                self._by_key[(kind, namespace, name)] = doc

    def __bool__(self) -> bool:
        return bool(self._by_key) or any(self._uncertain.values())

    def data(self, kind: str, namespace: Any, name: Any, files: bool = False) -> Any:
        """The data of the `kind` object `name` in `namespace` (see the module docstring; `files`:
        as a volume shows it, see `data_of`)."""
        if name is UNKNOWN or namespace is UNKNOWN:
            maybe = [key for key in self._by_key if key[0] == kind and name in (UNKNOWN, key[2])
                     and namespace in (UNKNOWN, key[1])]
            return UNKNOWN if maybe or self._uncertain[kind] else None
        found = self._by_key.get((kind, namespace, name)) if isinstance(name, str) else None
        if found is None:
            return UNKNOWN if self._uncertain[kind] else None
        return data_of(found, files)
