"""The hardened pod and container settings every component's workload shares.

They satisfy the Kubernetes "restricted" Pod Security Standard, our read-only-root-filesystem rule
and the Checkov built-ins that go with them (CKV_K8S_20/22/23/25/28/29/30/31/37/38/40).
"""
from dataclasses import dataclass

from stateless_pack.components import validation

# CKV_K8S_40: a UID above 10000 never collides with a host user.
DEFAULT_UID = 10001
TMP_VOLUME = "tmp"


@dataclass(frozen=True)
class Resources:
    """Requests (what the scheduler reserves) and limits (where the kernel stops the container)."""

    cpu_request: str = "100m"
    """The CPU the scheduler reserves (a Kubernetes quantity)."""
    memory_request: str = "128Mi"
    """The memory the scheduler reserves."""
    cpu_limit: str = "500m"
    """The CPU the container is throttled at."""
    memory_limit: str = "256Mi"
    """The memory the container is stopped at."""

    def validate(self, what: str) -> "Resources":
        for field_name in ("cpu_request", "memory_request", "cpu_limit", "memory_limit"):
            validation.quantity(getattr(self, field_name), f"{what}.{field_name}")
        return self

    def spec(self) -> dict:
        return {"requests": {"cpu": self.cpu_request, "memory": self.memory_request},
                "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit}}


def container_security_context(uid: int = DEFAULT_UID) -> dict:
    return {
        "run_as_non_root": True,
        "run_as_user": uid,
        "run_as_group": uid,
        "allow_privilege_escalation": False,
        "privileged": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def pod_security_context(uid: int = DEFAULT_UID) -> dict:
    return {
        "run_as_non_root": True,
        "run_as_user": uid,
        "run_as_group": uid,
        "fs_group": uid,  # mounted Secret files and emptyDirs are readable by the app's group
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def scratch_volume(name: str, size_limit: str) -> dict:
    """A bounded emptyDir: writable scratch that dies with the pod and cannot fill the node."""
    return {"name": name, "empty_dir": {"size_limit": size_limit}}
