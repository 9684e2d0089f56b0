"""ObjectBucket: a bucket on the on-prem S3-compatible object storage, claimed the Kubernetes way.

Files that must outlive a pod go here, never onto a node or (without a waiver) a volume.

- `api="obc"` (default): an ObjectBucketClaim (objectbucket.io/v1alpha1, lib-bucket-provisioner:
  Rook/Ceph, NooBaa). The provisioner creates a ConfigMap (BUCKET_HOST, BUCKET_NAME, BUCKET_PORT,
  BUCKET_REGION) and a Secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), both named after the claim.
- `api="cosi"`: a COSI BucketClaim plus a BucketAccess (objectstorage.k8s.io/v1alpha1); COSI writes
  one Secret (key `BucketInfo`, JSON with endpoint, bucket and keys) and no ConfigMap.
"""
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import validation
from stateless_pack.components.connections import BucketConnection

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
    """The namespace of the claim (not `default`); the applications that use the bucket must be in it too."""
    storage_class: str = "dit-s3"
    """The OBC StorageClass, or with COSI the BucketClass."""
    api: str = "obc"
    """`obc` (an ObjectBucketClaim, lib-bucket-provisioner: Rook/Ceph, NooBaa) or `cosi` (a COSI BucketClaim
    and BucketAccess)."""
    bucket_access_class: Optional[str] = None
    """The BucketAccessClass that grants the credentials (COSI only, and required there)."""
    env_prefix: Optional[str] = None
    """The prefix of the environment variables an application gets; default: the name in capitals and `_`."""
    additional_config: Mapping[str, str] = field(default_factory=dict)
    """The ObjectBucketClaim's `spec.additionalConfig` (OBC only)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on every object."""


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
    (None for OBC, whose Secret holds one env var per key; `BucketInfo` for COSI), and `connection`,
    all of it for an Application.
    """

    _type_token = "stateless-pack:components:ObjectBucket"
    claim_name: pulumi.Output[str]
    """The claim's name."""
    config_map_name: pulumi.Output[Optional[str]]
    """The ConfigMap the provisioner writes with the bucket's endpoint and name (OBC only)."""
    secret_name: pulumi.Output[str]
    """The Secret with the bucket's credentials."""
    connection: BucketConnection
    """What an Application needs to reach the bucket: pass it in the Application's `buckets`."""

    def __init__(self, name: str, args: ObjectBucketArgs, opts: Optional[pulumi.ResourceOptions] = None):
        _validate(name, args)
        super().__init__(self._type_token, name, None, opts)
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
            # The provisioner names both after the claim; deriving them from the claim's URN makes
            # every consumer depend on the claim, and keeps them known in a preview (an id is not).
            self.config_map_name = claim.urn.apply(lambda _: name)
            self.secret_name = claim.urn.apply(lambda _: name)
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
            self.secret_name = access.urn.apply(lambda _: credentials)
            self.secret_key = COSI_SECRET_KEY
        self.claim_name = claim.urn.apply(lambda _: name)
        self.connection = BucketConnection(
            name=name, namespace=args.namespace, api=args.api, env_prefix=self.env_prefix,
            config_map_name=self.config_map_name if args.api == "obc" else None,
            secret_name=self.secret_name, secret_key=self.secret_key)
        self.register_outputs({"claim_name": self.claim_name, "config_map_name": self.config_map_name,
                               "secret_name": self.secret_name, "secret_key": self.secret_key,
                               "connection": self.connection})
