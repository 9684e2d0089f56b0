"""The ConfigMaps and Secrets of a stack or scan, looked up the way a pod template refers to them.

By kind, namespace and name, with their data as text (a Secret's decoded; bytes that are not UTF-8
read with replacement characters, so that a file in another encoding is still read, never skipped).

Objects a controller makes from an object in the input count as in the input, with the keys the
controller documents (values unknown until it runs, and none of them a session setting): the
ConfigMap and Secret an ObjectBucketClaim's provisioner writes, the Secret a COSI BucketAccess names.

Lookups are three-valued like the other stack indexes: the data (a mapping), None when the input
holds no such object (it is made elsewhere: its settings cannot be verified here), or UNKNOWN during
a preview when the object, its data, or which object is meant is not known yet.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from stateless_pack.policies.manifest import UNKNOWN, api_group, get, kind_of, mapping
from stateless_pack.policies.rules.replica_indexes import namespace_or_unknown

KINDS = ("ConfigMap", "Secret")
# lib-bucket-provisioner (Rook/Ceph, NooBaa): a ConfigMap and a Secret named after the claim.
_OBC_KEYS = {"ConfigMap": ("BUCKET_HOST", "BUCKET_NAME", "BUCKET_PORT", "BUCKET_REGION", "BUCKET_SUBREGION"),
             "Secret": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def provisioned(doc) -> list[tuple[str, Any, dict]]:
    """(kind, name, manifest with the documented keys) of the ConfigMaps and Secrets a controller
    makes from `doc` (an ObjectBucketClaim, a COSI BucketAccess), [] for other objects."""
    kind, group = kind_of(doc), api_group(doc)
    if kind == "ObjectBucketClaim" and group in (None, "objectbucket.io"):
        name = get(doc, "metadata", "name")
        return [(made, name, {"kind": made, "data": dict.fromkeys(keys)}) for made, keys in _OBC_KEYS.items()]
    if kind == "BucketAccess" and group in (None, "objectstorage.k8s.io"):
        name = get(doc, "spec", "credentialsSecretName")
        return [("Secret", name, {"kind": "Secret", "data": {"BucketInfo": None}})]
    return []


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
        made = []
        for doc in manifests:
            kind = kind_of(doc)
            made += [(made_kind, doc, name, made_doc) for made_kind, name, made_doc in provisioned(doc)]
            if kind in KINDS:
                self._add(kind, doc, get(doc, "metadata", "name"), doc)
        for kind, owner, name, doc in made:  # an object of the input itself wins over what a controller makes
            self._add(kind, owner, name, doc, replace=False)

    def _add(self, kind: str, owner, name: Any, doc, replace: bool = True) -> None:
        namespace = namespace_or_unknown(owner)
        if namespace is UNKNOWN or name is UNKNOWN:
            self._uncertain[kind].append(doc)
        elif isinstance(name, str) and (replace or (kind, namespace, name) not in self._by_key):
            self._by_key[(kind, namespace, name)] = doc

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
