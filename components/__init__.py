"""The paved road: Pulumi components that are stateless and secure by default.

    from stateless_pack.components import Application, ApplicationArgs, RedisSessionStore, ...
"""
from stateless_pack.components.application import Application, ApplicationArgs, Autoscaling, IngressArgs, PersistentVolume
from stateless_pack.components.connections import BucketConnection, SessionStoreConnection
from stateless_pack.components.object_bucket import ObjectBucket, ObjectBucketArgs
from stateless_pack.components.pod_hardening import Resources
from stateless_pack.components.session_store import RedisSessionStore
from stateless_pack.components.session_store_args import (ExternalRedis, HighAvailability, RedisPersistence,
                                                          RedisSessionStoreArgs)
from stateless_pack.components.validation import ComponentArgumentError

__all__ = [
    "Application", "ApplicationArgs", "Autoscaling", "IngressArgs", "PersistentVolume",
    "ObjectBucket", "ObjectBucketArgs", "Resources", "BucketConnection", "SessionStoreConnection",
    "ExternalRedis", "HighAvailability", "RedisPersistence", "RedisSessionStore", "RedisSessionStoreArgs",
    "ComponentArgumentError",
]
