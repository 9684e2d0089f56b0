"""What an Application reads from a session store or a bucket: their connections, as plain data.

A RedisSessionStore and an ObjectBucket each publish one (`connection`); an Application takes it, or
in Python the component itself. Programs in other languages have only the data: a component
provider takes no component as an argument, but it takes what another component published.
"""
from typing import Optional, TypedDict

import pulumi


class SessionStoreConnection(TypedDict):
    """How an application reaches a RedisSessionStore: the store's `connection` output."""

    name: str
    """The session store's name."""
    namespace: str
    """The store's namespace: an application must be in the same one to reference its ConfigMap and Secret."""
    connection_keys: list[str]
    """The keys of the connection ConfigMap that an application reads: REDIS_SENTINELS and REDIS_MASTER_NAME
    (replicated), or REDIS_HOST and REDIS_PORT (single instance, external)."""
    config_map_name: pulumi.Input[str]
    """The ConfigMap that holds the connection."""
    password_secret_name: pulumi.Input[str]
    """The Secret that holds the Redis password."""
    password_secret_key: str
    """The password's key in that Secret."""
    client_labels: dict[str, str]
    """The pod labels the store's NetworkPolicies admit: an application's pods carry them."""


class BucketConnection(TypedDict):
    """How an application reaches an ObjectBucket: the bucket's `connection` output."""

    name: str
    """The bucket's (its claim's) name."""
    namespace: str
    """The bucket's namespace: an application must be in the same one to reference its Secret."""
    api: str
    """`obc` (an ObjectBucketClaim: a ConfigMap and a Secret of environment variables) or `cosi` (a COSI
    BucketClaim: one Secret, key `BucketInfo`)."""
    env_prefix: str
    """The prefix of the environment variables an application gets for this bucket."""
    config_map_name: Optional[pulumi.Input[str]]
    """The ConfigMap with the bucket's endpoint and name (OBC only)."""
    secret_name: pulumi.Input[str]
    """The Secret with the bucket's credentials."""
    secret_key: Optional[str]
    """The one key of that Secret (COSI: `BucketInfo`); none for OBC, whose Secret holds one variable per key."""
