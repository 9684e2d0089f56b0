"""ObjectBucket: a bucket on the on-prem S3-compatible object storage, claimed the Kubernetes way.

Files that must outlive a pod go here, never onto a node or (without a waiver) a volume.

- `api="obc"` (default): an ObjectBucketClaim (objectbucket.io/v1alpha1, lib-bucket-provisioner:
  Rook/Ceph, NooBaa). The provisioner creates a ConfigMap (BUCKET_HOST, BUCKET_NAME, BUCKET_PORT,
  BUCKET_REGION) and a Secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), both named after the claim.
- `api="cosi"`: a COSI BucketClaim plus a BucketAccess (objectstorage.k8s.io/v1alpha1); COSI writes
  one Secret (key `BucketInfo`, JSON with endpoint, bucket and keys) and no ConfigMap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import validation

OBC_API = "objectbucket.io/v1alpha1"
COSI_API = "objectstorage.k8s.io/v1alpha1"
COSI_SECRET_KEY = "BucketInfo"


@dataclass(frozen=True)
class ObjectBucketArgs:
    """Arguments of `ObjectBucket`.

    `storage_class` is the OBC StorageClass (the pack approves "dit-s3" by default) or, with COSI,
    the BucketClass; read it from stack config rather than hard-coding it.
    """

    namespace: str
    storage_class: str = "dit-s3"
    api: str = "obc"                                 # "obc" | "cosi"
    bucket_access_class: Optional[str] = None        # COSI only: required there
    env_prefix: Optional[str] = None                 # prefix of the env vars an app gets; default NAME_
    additional_config: Mapping[str, str] = field(default_factory=dict)  # OBC spec.additionalConfig
    labels: Mapping[str, str] = field(default_factory=dict)


def default_env_prefix(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


def _validate(name: str, args: ObjectBucketArgs) -> None:
    # Claim names become bucket-name prefixes and env prefixes too: keep to a DNS-1123 label.
    validation.dns1123_label(name, "bucket name")
    validation.namespace(args.namespace)
    validation.one_of(args.api, ("obc", "cosi"), "bucket api")
    validation.dns1123_subdomain(args.storage_class, "storage_class")
    if args.api == "cosi":
        if args.bucket_access_class is None:
            raise validation.ComponentArgumentError(
                "COSI buckets need `bucket_access_class` (the BucketAccessClass that grants the credentials)")
        validation.dns1123_subdomain(args.bucket_access_class, "bucket_access_class")
        if args.additional_config:
            raise validation.ComponentArgumentError("additional_config is an ObjectBucketClaim field; COSI has none")
    elif args.bucket_access_class is not None:
        raise validation.ComponentArgumentError("bucket_access_class is a COSI field; ObjectBucketClaims have none")
    if args.env_prefix is not None:
        validation.env_name(args.env_prefix, "env_prefix")


class ObjectBucket(pulumi.ComponentResource):
    """A claimed bucket and the names of the ConfigMap/Secret an application mounts.

    Outputs: `claim_name`, `config_map_name` (None with COSI), `secret_name`, `secret_key`
    (None for OBC, whose Secret holds one env var per key; `BucketInfo` for COSI).
    """

    claim_name: pulumi.Output[str]
    config_map_name: pulumi.Output[Optional[str]]
    secret_name: pulumi.Output[str]

    def __init__(self, name: str, args: ObjectBucketArgs, opts: Optional[pulumi.ResourceOptions] = None):
        _validate(name, args)
        super().__init__("stateless-pack:components:ObjectBucket", name, None, opts)
        self.name = name
        self.namespace = args.namespace
        self.api = args.api
        self.env_prefix = args.env_prefix or default_env_prefix(name)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/instance": name, "app.kubernetes.io/component": "object-bucket",
                  "app.kubernetes.io/managed-by": "stateless-pack", **args.labels}
        metadata = {"name": name, "namespace": args.namespace, "labels": labels}

        if args.api == "obc":
            spec = {"generateBucketName": name, "storageClassName": args.storage_class}
            if args.additional_config:
                spec["additionalConfig"] = dict(args.additional_config)
            claim = k8s.apiextensions.CustomResource(
                name, opts=child, api_version=OBC_API, kind="ObjectBucketClaim", metadata=metadata, spec=spec)
            # The provisioner names both after the claim; deriving them from the claim's id makes
            # every consumer depend on the claim.
            self.config_map_name = claim.id.apply(lambda _: name)
            self.secret_name = claim.id.apply(lambda _: name)
            self.secret_key = None
        else:
            claim = k8s.apiextensions.CustomResource(
                name, opts=child, api_version=COSI_API, kind="BucketClaim", metadata=metadata,
                spec={"bucketClassName": args.storage_class, "protocols": ["S3"]})
            credentials = f"{name}-credentials"
            access = k8s.apiextensions.CustomResource(
                f"{name}-access", opts=pulumi.ResourceOptions(parent=self, depends_on=[claim]),
                api_version=COSI_API, kind="BucketAccess",
                metadata={**metadata, "name": f"{name}-access"},
                spec={"bucketClaimName": name, "bucketAccessClassName": args.bucket_access_class,
                      "credentialsSecretName": credentials, "protocol": "S3"})
            self.config_map_name = pulumi.Output.from_input(None)
            self.secret_name = access.id.apply(lambda _: credentials)
            self.secret_key = COSI_SECRET_KEY
        self.claim_name = claim.id.apply(lambda _: name)
        self.register_outputs({"claim_name": self.claim_name, "config_map_name": self.config_map_name,
                               "secret_name": self.secret_name, "secret_key": self.secret_key})
