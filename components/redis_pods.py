"""What the session store's in-cluster modes build alike: labels, the auth Secret, hardened Redis pods,
NetworkPolicies and disruption budgets."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components.pod_hardening import (DEFAULT_UID, Resources, container_security_context,
                                                     pod_security_context)

CONFIG_PATH = "/etc/redis"  # where a Redis or Sentinel container reads its configuration (read-only)
DATA_PATH = "/data"         # its bounded scratch folder
CLIENT_LABEL = "stateless-pack.io/session-store-client"  # NetworkPolicies admit pods with this label
_SELECTOR_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/instance")


def labels_of(instance: str, app_name: str, extra: Mapping[str, str]) -> dict:
    """The labels of one kind of pod of a store ("redis", "redis-sentinel") and of its objects."""
    return {"app.kubernetes.io/name": app_name, "app.kubernetes.io/instance": instance,
            "app.kubernetes.io/component": "session-store",
            "app.kubernetes.io/managed-by": "stateless-pack", **extra}


def selector_of(labels: Mapping[str, str]) -> dict:
    return {k: labels[k] for k in _SELECTOR_KEYS}


def metadata(name: str, namespace: str, labels: Mapping[str, str], annotations: Optional[dict] = None) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = annotations
    return meta


def auth_secret(name: str, namespace: str, labels: Mapping[str, str], files: Mapping[str, pulumi.Input[str]],
                opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
    """The Secret with the password and the config files that contain it (one Pulumi secret)."""
    return k8s.core.v1.Secret(name, opts=opts, type="Opaque", metadata=metadata(name, namespace, labels),
                              string_data=dict(files))


def container(name: str, image: str, resources: Resources, **fields) -> dict:
    """A hardened container running `image` (fields: command, ports, probes, env, volume_mounts...)."""
    return {"name": name, "image": image, "image_pull_policy": "Always", "resources": resources.spec(),
            "security_context": container_security_context(DEFAULT_UID), **fields}


def pod_spec(containers: Sequence[dict], volumes: Sequence[dict], **fields) -> dict:
    """A hardened pod: no service account token, no service links, non-root, seccomp."""
    return {"automount_service_account_token": False, "enable_service_links": False,
            "security_context": pod_security_context(DEFAULT_UID), "containers": list(containers),
            "volumes": list(volumes), **fields}


def secret_volume(name: str, secret_name: pulumi.Input[str], keys: Sequence[str]) -> dict:
    return {"name": name, "secret": {"secret_name": secret_name, "default_mode": 0o440,
                                     "items": [{"key": k, "path": k} for k in keys]}}


def tcp_port(port: int) -> dict:
    return {"protocol": "TCP", "port": port}


def network_policy(name: str, namespace: str, labels: Mapping[str, str], ingress: list, egress: list,
                   opts: pulumi.ResourceOptions) -> k8s.networking.v1.NetworkPolicy:
    """Only the given peers reach the store's pods, and the pods reach only the given peers."""
    return k8s.networking.v1.NetworkPolicy(
        name, opts=opts, metadata=metadata(name, namespace, labels),
        spec={"pod_selector": {"match_labels": selector_of(labels)}, "policy_types": ["Ingress", "Egress"],
              "ingress": ingress, "egress": egress})


def disruption_budget(name: str, namespace: str, labels: Mapping[str, str],
                      opts: pulumi.ResourceOptions) -> k8s.policy.v1.PodDisruptionBudget:
    """One pod of the kind at a time: a node drain never takes two copies of the sessions (or two
    Sentinels of a quorum) at once, and never blocks forever."""
    return k8s.policy.v1.PodDisruptionBudget(
        name, opts=opts, metadata=metadata(name, namespace, labels),
        spec={"max_unavailable": 1, "selector": {"match_labels": selector_of(labels)}})
