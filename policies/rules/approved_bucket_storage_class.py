"""Rule approved-bucket-storage-class: object bucket claims only against approved storage classes."""
from __future__ import annotations

from stateless_pack.policies.manifest import UNKNOWN, api_group, get, kind_of, sequence
from stateless_pack.policies.rule import Rule, Violation


# kind -> (API group, field naming the class)
_BUCKET_CLAIMS = {
    "ObjectBucketClaim": ("objectbucket.io", "storageClassName"),
    "BucketClaim": ("objectstorage.k8s.io", "bucketClassName"),
}


def _approved_bucket_class(manifest, cfg):
    kind = kind_of(manifest)
    group, field = _BUCKET_CLAIMS[kind]
    if api_group(manifest) not in (None, group):
        return  # a same-named kind of another API
    approved = [c for c in sequence(cfg.get("approvedStorageClasses")) if isinstance(c, str)]
    where = f"spec.{field}"
    value = get(manifest, "spec", field)
    if value is UNKNOWN:
        yield Violation(where, f"{where} is unknown during preview", unknown=True)
    elif not isinstance(value, str) or not value:
        yield Violation(where, f"{kind} names no {field}; approved: {', '.join(approved) or 'none'}")
    elif value not in approved:
        yield Violation(where, f"{field} {value!r} is not an approved object storage class "
                        f"(approved: {', '.join(approved) or 'none'})")


RULE = Rule(
    name="approved-bucket-storage-class",
    checkov_id="CKV_STL_8",
    category="storage",
    description="Object bucket claims use an approved storage class: ObjectBucketClaim "
                "(objectbucket.io) `spec.storageClassName` and COSI BucketClaim (objectstorage.k8s.io) "
                "`spec.bucketClassName` must be one of `approvedStorageClasses`.",
    remediation="Set the claim's storage/bucket class to an approved one (the on-prem S3-compatible "
                "object storage), e.g. use the paved-road object bucket component.",
    kinds=frozenset(_BUCKET_CLAIMS),
    check=_approved_bucket_class,
    config_schema={"approvedStorageClasses": {
        "type": "array", "items": {"type": "string"}, "default": ["dit-s3"],
        "description": "storage / bucket class names object bucket claims may use"}},
)
