"""The reference stack: a stateless web shop built from the paved-road components.

One namespace holds a web application (2+ interchangeable replicas), the Redis session store they
share (replicated and watched by Sentinel: losing a Redis pod or a node signs nobody out) and an
object bucket for uploaded files. Everything comes from stack config (Pulumi.dev.yaml). It needs no
waiver: waivers.yaml is empty on purpose.
"""
import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import (Application, ApplicationArgs, IngressArgs, ObjectBucket, ObjectBucketArgs,
                        RedisSessionStore, RedisSessionStoreArgs)

config = pulumi.Config()
namespace_name = config.require("namespace")

# The namespace enforces the "restricted" Pod Security Standard: the components' pods comply.
namespace = k8s.core.v1.Namespace("namespace", metadata={
    "name": namespace_name,
    "labels": {"pod-security.kubernetes.io/enforce": "restricted",
               "pod-security.kubernetes.io/enforce-version": "latest"}})
in_namespace = pulumi.ResourceOptions(depends_on=[namespace])

sessions = RedisSessionStore("sessions", RedisSessionStoreArgs(
    namespace=namespace_name,
    image=config.require("redisImage"),
    password=config.require_secret("redisPassword"),
), opts=in_namespace)  # replicated: 3 Redis (1 master, 2 replicas) + 3 Sentinels, one of each per node

uploads = ObjectBucket("uploads", ObjectBucketArgs(
    namespace=namespace_name,
    storage_class=config.require("bucketStorageClass"),
), opts=in_namespace)

web = Application("web", ApplicationArgs(
    namespace=namespace_name,
    image=config.require("image"),
    replicas=config.require_int("replicas"),
    env={"SESSION_BACKEND": "redis"},
    session_store=sessions,
    buckets=[uploads],
    ingress=IngressArgs(host=config.require("host"), tls_secret_name="shop-tls"),  # cert-manager's
), opts=in_namespace)

pulumi.export("url", f"https://{config.require('host')}")
pulumi.export("service", web.service_host)
pulumi.export("session_store_sentinels", sessions.sentinels)
pulumi.export("bucket_config_map", uploads.config_map_name)
