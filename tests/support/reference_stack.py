"""The reference stack (Pulumi.yaml, Pulumi.dev.yaml, __main__.py) as the provider tests use it: its
config, its components constructed through the provider the way a program in another language has
the engine construct them, and the children each component registered."""
from __future__ import annotations

import yaml

from stateless_pack.gate.program.values import Secret
from support.paths import REPO
from support.provider_harness import OutputValue

TOKEN = "stateless-pack:index:"
PROJECT, STACK = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["name"], "dev"
CONFIG = {key.split(":", 1)[1]: value
          for key, value in yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"].items()}
NAMESPACE_URN = f"urn:pulumi:{STACK}::{PROJECT}::kubernetes:core/v1:Namespace::namespace"


def construct_reference_stack(provider, monitor, dry_run: bool = False) -> dict:
    """__main__.py's components, as a TypeScript program of it (examples/typescript) has the engine
    construct them: the store's and the bucket's `connection` outputs go to the Application."""
    after_namespace = {"dependencies": (NAMESPACE_URN,), "dry_run": dry_run}
    sessions = provider.construct(monitor, TOKEN + "RedisSessionStore", "sessions", {
        "namespace": CONFIG["namespace"], "image": CONFIG["redisImage"],
        "password": Secret(CONFIG["redisPassword"])}, **after_namespace)
    uploads = provider.construct(monitor, TOKEN + "ObjectBucket", "uploads", {
        "namespace": CONFIG["namespace"], "storageClass": CONFIG["bucketStorageClass"]}, **after_namespace)
    web = provider.construct(monitor, TOKEN + "Application", "web", {
        "namespace": CONFIG["namespace"], "image": CONFIG["image"], "replicas": CONFIG["replicas"],
        "env": {"SESSION_BACKEND": "redis"},
        "sessionStore": OutputValue(sessions.state["connection"], (sessions.urn,)),
        "buckets": [OutputValue(uploads.state["connection"], (uploads.urn,))],
        "ingress": {"host": CONFIG["host"], "tlsSecretName": "shop-tls"}}, **after_namespace)
    return {"sessions": sessions, "uploads": uploads, "web": web}


def children(resources, component_urn: str) -> dict:
    """{(type, name): inputs} of the resources whose parent is `component_urn`."""
    return {(r.type, r.name): r.inputs for r in resources if r.parent == component_urn}


def python_component(run, name: str):
    """The component `name` the Python reference stack registered."""
    [component] = [r for r in run.resources if r.name == name and r.type.startswith("stateless-pack:")]
    return component
