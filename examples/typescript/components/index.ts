// The reference stack (../../__main__.py) in TypeScript: the same web shop, built from the paved-road
// components through stateless-pack's component provider. `pulumi package add ../../provider` (or the
// repository at a tag) generates the `@pulumi/stateless-pack` SDK this program imports.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as statelessPack from "@pulumi/stateless-pack";

const config = new pulumi.Config();
const namespaceName = config.require("namespace");

// The namespace enforces the "restricted" Pod Security Standard: the components' pods comply.
const namespace = new k8s.core.v1.Namespace("namespace", {
    metadata: {
        name: namespaceName,
        labels: {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    },
});
const inNamespace = { dependsOn: [namespace] };

// Replicated: 3 Redis (1 master, 2 replicas) + 3 Sentinels, one of each per node.
const sessions = new statelessPack.RedisSessionStore("sessions", {
    namespace: namespaceName,
    image: config.require("redisImage"),
    password: config.requireSecret("redisPassword"),
}, inNamespace);

const uploads = new statelessPack.ObjectBucket("uploads", {
    namespace: namespaceName,
    storageClass: config.require("bucketStorageClass"),
}, inNamespace);

// A component cannot be passed to another one across languages: their `connection` outputs are.
const web = new statelessPack.Application("web", {
    namespace: namespaceName,
    image: config.require("image"),
    replicas: config.requireNumber("replicas"),
    env: { SESSION_BACKEND: "redis" },
    sessionStore: sessions.connection,
    buckets: [uploads.connection],
    ingress: { host: config.require("host"), tlsSecretName: "shop-tls" },  // cert-manager's
}, inNamespace);

export const url = `https://${config.require("host")}`;
export const service = web.serviceHost;
export const session_store_sentinels = sessions.sentinels;
export const bucket_config_map = uploads.configMapName;
