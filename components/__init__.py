"""The paved road: Pulumi components that are stateless and secure by default.

    from components import Application, ApplicationArgs, RedisSessionStore, ...
"""
from components.application import Application, ApplicationArgs, Autoscaling, IngressArgs, PersistentVolume
from components.object_bucket import ObjectBucket, ObjectBucketArgs
from components.pod_hardening import Resources
from components.session_store import ExternalRedis, RedisPersistence, RedisSessionStore, RedisSessionStoreArgs
from components.validation import ComponentArgumentError

__all__ = [
    "Application", "ApplicationArgs", "Autoscaling", "IngressArgs", "PersistentVolume",
    "ObjectBucket", "ObjectBucketArgs", "Resources",
    "ExternalRedis", "RedisPersistence", "RedisSessionStore", "RedisSessionStoreArgs",
    "ComponentArgumentError",
]
