// Breaks every stateless-pack rule exactly once, each in a resource named after it: the TypeScript twin
// of examples/violates-every-rule (the gate must give it exactly that example's expected_findings.yaml).
//
// Everything else is kept compliant (a shared hardened pod template), so that each finding shows up
// exactly where expected_findings.yaml says and nowhere else.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type PodSpec = k8s.types.input.core.v1.PodSpec;

const ns = new pulumi.Config().get("namespace") || "legacy";
const IMAGE = "registry.example.org/shop/web@sha256:" + "a".repeat(64);

const meta = (name: string, extra: Record<string, unknown> = {}) =>
    ({ name, namespace: ns, labels: { app: name }, ...extra });

/** A container that satisfies every rule (and the usual Checkov built-ins). */
function container(overrides: Partial<Container> = {}): Container {
    return {
        name: "app",
        image: IMAGE,
        imagePullPolicy: "Always",
        ports: [{ containerPort: 8080, name: "http" }],
        readinessProbe: { httpGet: { path: "/ready", port: 8080 } },
        livenessProbe: { httpGet: { path: "/live", port: 8080 } },
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
        securityContext: {
            readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" },
        },
        volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
        ...overrides,
    };
}

function podSpec(containers: Container[] = [container()], volumes: Volume[] = []): PodSpec {
    return {
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
        containers,
        volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }, ...volumes],
    };
}

function deployment(name: string, { replicas = 2, spec = podSpec(), withPdb = true } = {}) {
    new k8s.apps.v1.Deployment(name, {
        metadata: meta(name),
        spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } },
    });
    if (withPdb) {
        new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
            metadata: meta(`${name}-pdb`), spec: { minAvailable: 1, selector: { matchLabels: { app: name } } },
        });
    }
}

// sessions
new k8s.core.v1.Service("sticky-service", { metadata: meta("sticky-service"), spec: {      // no-sticky-service
    selector: { app: "sticky-service" }, ports: [{ port: 80, targetPort: 8080 }], sessionAffinity: "ClientIP" } });
new k8s.networking.v1.Ingress("sticky-edge", {                                                 // no-sticky-edge
    metadata: meta("sticky-edge", { annotations: { "nginx.ingress.kubernetes.io/affinity": "cookie" } }),
    spec: {
        ingressClassName: "nginx",
        rules: [{ host: "shop.example.org", http: { paths: [{ path: "/", pathType: "Prefix",
            backend: { service: { name: "sticky-service", port: { number: 80 } } } }] } }],
    },
});
deployment("local-session-store", { spec: podSpec([container({                                // no-local-session-store
    env: [{ name: "SESSION_DRIVER", value: "file" }] })]) });
new k8s.core.v1.ConfigMap("local-session-config", { metadata: meta("local-session-config"), data: {
    SESSION_DRIVER: "file" } });
deployment("local-session-config", { spec: podSpec([container({                               // no-local-session-config
    envFrom: [{ configMapRef: { name: "local-session-config" } }] })]) });

// storage
deployment("host-path", { spec: podSpec(undefined, [                                           // no-host-path
    { name: "data", hostPath: { path: "/var/lib/shop" } }]) });
deployment("network-volume", { spec: podSpec(undefined, [                                      // allowed-volume-types
    { name: "shared", nfs: { server: "nfs.example.org", path: "/exports/shop" } }]) });
new k8s.core.v1.PersistentVolumeClaim("uploads", { metadata: meta("uploads"), spec: {         // no-persistent-volume-claims
    accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } });
new k8s.apps.v1.StatefulSet("stateful-workload", { metadata: meta("stateful-workload"), spec: { // no-stateful-workloads
    serviceName: "stateful-workload", replicas: 2,
    selector: { matchLabels: { app: "stateful-workload" } },
    template: { metadata: { labels: { app: "stateful-workload" } }, spec: podSpec() } } });
new k8s.policy.v1.PodDisruptionBudget("stateful-workload-pdb", { metadata: meta("stateful-workload-pdb"), spec: {
    minAvailable: 1, selector: { matchLabels: { app: "stateful-workload" } } } });
const hardened = container().securityContext as k8s.types.input.core.v1.SecurityContext;
deployment("writable-root", { spec: podSpec([container({                                       // read-only-root-filesystem
    securityContext: { ...hardened, readOnlyRootFilesystem: false } })]) });
new k8s.apiextensions.CustomResource("unapproved-bucket", {                                    // approved-bucket-storage-class
    apiVersion: "objectbucket.io/v1alpha1", kind: "ObjectBucketClaim",
    metadata: meta("unapproved-bucket"),
    spec: { generateBucketName: "unapproved", storageClassName: "local-minio" },
});

// resilience
deployment("single-replica", { replicas: 1, withPdb: false });                                // min-replicas
deployment("no-disruption-budget", { withPdb: false });                                       // pdb-coverage
new k8s.core.v1.Pod("bare-pod", { metadata: meta("bare-pod"), spec: podSpec() });             // no-bare-pods
deployment("no-readiness-probe", { spec: podSpec([container({ readinessProbe: undefined })]) }); // readiness-probe

// data-store hygiene
const redis = container({
    name: "redis", image: "redis:7.4.2", ports: [{ containerPort: 6379, name: "redis" }],
    readinessProbe: { tcpSocket: { port: 6379 } }, livenessProbe: { tcpSocket: { port: 6379 } },
    args: ["--protected-mode", "no"],
});
deployment("open-redis", { spec: podSpec([redis]) });                                          // redis-auth
new k8s.core.v1.Service("exposed-redis", { metadata: meta("exposed-redis"), spec: {           // redis-not-exposed
    type: "LoadBalancer", selector: { app: "redis" }, ports: [{ port: 6379, targetPort: 6379, name: "redis" }] } });
deployment("literal-credentials", { spec: podSpec([container({                                // no-literal-credentials
    env: [{ name: "DB_PASSWORD", value: "hunter2-not-a-real-password" }] })]) });
