"""The reference stack: a stateless web shop built from the paved-road components.

One namespace holds a web application (2+ interchangeable replicas), the Redis session store they
share and an object bucket for uploaded files. Everything comes from stack config (Pulumi.dev.yaml).
The one deliberate exception, a single Redis instance, is waived in waivers.yaml (W-0001).
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
    single_instance_waiver="W-0001",  # one Redis: two would split the sessions (see waivers.yaml)
), opts=in_namespace)

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
pulumi.export("session_store", pulumi.Output.concat(sessions.host, ":", sessions.port.apply(str)))
pulumi.export("bucket_config_map", uploads.config_map_name)
