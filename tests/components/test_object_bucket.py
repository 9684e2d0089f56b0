"""ObjectBucket under Pulumi's mocks: OBC by default, COSI as an option, bad arguments."""
from __future__ import annotations

import pytest

from stateless_pack.components import ComponentArgumentError, ObjectBucket, ObjectBucketArgs
from support.mocks import resolve, run

COMPONENT = "stateless-pack:components:ObjectBucket"
OBC = "kubernetes:objectbucket.io/v1alpha1:ObjectBucketClaim"
COSI_CLAIM = "kubernetes:objectstorage.k8s.io/v1alpha1:BucketClaim"
COSI_ACCESS = "kubernetes:objectstorage.k8s.io/v1alpha1:BucketAccess"


def test_object_bucket_claim_by_default():
    r = run(lambda: ObjectBucket("uploads", ObjectBucketArgs(namespace="shop")))
    claim = r.one(OBC)
    assert claim.parent == r.one(COMPONENT).urn
    m = claim.manifest
    assert (m["apiVersion"], m["kind"]) == ("objectbucket.io/v1alpha1", "ObjectBucketClaim")
    assert m["metadata"]["name"] == "uploads" and m["metadata"]["namespace"] == "shop"
    assert m["spec"] == {"generateBucketName": "uploads", "storageClassName": "dit-s3"}
    # OBC convention: the provisioner's ConfigMap and Secret carry the claim's name
    assert resolve(r.result.config_map_name) == ("uploads", False)
    assert resolve(r.result.secret_name) == ("uploads", False)
    assert r.result.env_prefix == "UPLOADS_"


def test_storage_class_and_additional_config_come_from_arguments():
    r = run(lambda: ObjectBucket("media-files", ObjectBucketArgs(
        namespace="shop", storage_class="dit-s3-archive", additional_config={"maxObjects": "1000"})))
    spec = r.one(OBC).manifest["spec"]
    assert spec["storageClassName"] == "dit-s3-archive"
    assert spec["additionalConfig"] == {"maxObjects": "1000"}
    assert r.result.env_prefix == "MEDIA_FILES_"


def test_cosi_claim_and_access():
    r = run(lambda: ObjectBucket("uploads", ObjectBucketArgs(
        namespace="shop", api="cosi", storage_class="dit-s3", bucket_access_class="dit-s3-rw")))
    assert not r.of_type(OBC)
    claim, access = r.one(COSI_CLAIM).manifest, r.one(COSI_ACCESS).manifest
    assert claim["spec"] == {"bucketClassName": "dit-s3", "protocols": ["S3"]}
    assert access["spec"] == {"bucketClaimName": "uploads", "bucketAccessClassName": "dit-s3-rw",
                              "credentialsSecretName": "uploads-credentials", "protocol": "S3"}
    component = r.one(COMPONENT).urn
    assert r.one(COSI_CLAIM).parent == component and r.one(COSI_ACCESS).parent == component
    assert resolve(r.result.secret_name) == ("uploads-credentials", False)
    assert resolve(r.result.config_map_name) == (None, False)
    assert r.result.secret_key == "BucketInfo"


@pytest.mark.parametrize("name,overrides,message", [
    ("Uploads", {}, "bucket name 'Uploads'"),
    ("uploads", {"namespace": "default"}, "'default' is not allowed"),
    ("uploads", {"api": "s3"}, "bucket api 's3'"),
    ("uploads", {"storage_class": "DIT S3"}, "storage_class"),
    ("uploads", {"api": "cosi"}, "bucket_access_class"),
    ("uploads", {"bucket_access_class": "rw"}, "COSI field"),
    ("uploads", {"api": "cosi", "bucket_access_class": "rw", "additional_config": {"a": "b"}}, "COSI has none"),
    ("uploads", {"env_prefix": "1BAD"}, "env_prefix"),
])
def test_bad_arguments_are_rejected(name, overrides, message):
    with pytest.raises(ComponentArgumentError, match=message):
        run(lambda: ObjectBucket(name, ObjectBucketArgs(**{"namespace": "shop", **overrides})))
