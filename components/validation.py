"""Program-time checks of component arguments: fail at `pulumi preview` with a clear message,
not minutes later at `pulumi up` with a Kubernetes API error (or never, for a bad default).

Every check raises `ComponentArgumentError` naming the argument, the value and what is allowed.
"""
from __future__ import annotations

import re
from typing import Any

from stateless_pack.policies.waivers.model import is_waiver_id

# RFC 1123 label (namespaces, Service names, ...) and subdomain (most object names).
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ComponentArgumentError(ValueError):
    """A component argument is invalid; the message names the argument and what is allowed."""


def dns1123_label(value: Any, what: str) -> str:
    """A name that must be an RFC 1123 label (<= 63 chars): namespaces, Services, ports' owners."""
    if not isinstance(value, str) or len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ComponentArgumentError(
            f"{what} {value!r} is not a valid DNS-1123 label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters")
    return value


def dns1123_subdomain(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ComponentArgumentError(
            f"{what} {value!r} is not a valid DNS-1123 subdomain: lowercase letters, digits, '-' "
            "and '.', each part starting and ending with a letter or digit, at most 253 characters")
    return value


def namespace(value: Any) -> str:
    dns1123_label(value, "namespace")
    if value == "default":  # CKV_K8S_21: nothing of ours lands in the catch-all namespace
        raise ComponentArgumentError("namespace 'default' is not allowed: give the application its own namespace")
    return value


def port(value: Any, what: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ComponentArgumentError(f"{what} {value!r} must be an integer from 1 to 65535")
    return value


def positive_int(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ComponentArgumentError(f"{what} {value!r} must be an integer >= {minimum}")
    return value


def replicas(value: Any, waiver_id: str | None, what: str = "replicas") -> int:
    """>= 1 always; >= 2 unless a waiver id backs the single instance (rule min-replicas)."""
    positive_int(value, what)
    if value < 2 and not waiver_id:
        raise ComponentArgumentError(
            f"{what} {value} is below 2: one instance cannot serve every request during a rollout or "
            "node drain; use >= 2, or pass the id of a registered waiver for rule min-replicas")
    return value


def waiver_id(value: Any, what: str) -> str:
    if not is_waiver_id(value):
        raise ComponentArgumentError(
            f"{what} {value!r} is not a waiver id: expected 'W-' and at least 4 digits, "
            "the id of an entry in the stack's waivers.yaml")
    return value


def image(value: Any, what: str = "image") -> str:
    """Pinned to a tag or a digest; never untagged, never `latest` (the same code may not change
    under a running Deployment: replicas must be identical to be interchangeable)."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ComponentArgumentError(f"{what} {value!r} must be a non-empty image reference without spaces")
    ref, _, digest = value.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ComponentArgumentError(f"{what} {value!r} has a malformed digest: expected sha256:<64 hex digits>")
    last = ref.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ""
    if tag and not _TAG.match(tag):
        raise ComponentArgumentError(f"{what} {value!r} has a malformed tag {tag!r}")
    if tag == "latest":
        raise ComponentArgumentError(f"{what} {value!r} uses the tag 'latest': pin a version tag or a digest")
    if not tag and not digest:
        raise ComponentArgumentError(f"{what} {value!r} is not pinned: add a version tag or a digest (@sha256:...)")
    return value


def quantity(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _QUANTITY.match(value):
        raise ComponentArgumentError(f"{what} {value!r} is not a Kubernetes quantity (e.g. '100m', '128Mi')")
    return value


def env_name(value: Any, what: str = "environment variable name") -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ComponentArgumentError(f"{what} {value!r} must match [A-Za-z_][A-Za-z0-9_]*")
    return value


def one_of(value: Any, allowed: tuple, what: str) -> Any:
    if value not in allowed:
        raise ComponentArgumentError(f"{what} {value!r} must be one of {', '.join(map(repr, allowed))}")
    return value
