"""The values of a program's resources, with Pulumi's secret-ness kept: a secret arrives as a `Secret`
wrapper, so that renderers and reports can redact it and the engine driver can send it as a secret,
exactly as Pulumi would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from stateless_pack.gate.program.pulumi_wire import SECRET_SIG, SIG_KEY
from stateless_pack.policies.redaction import REDACTED


@dataclass(frozen=True)
class Secret:
    """A value Pulumi treats as secret. Never print `.value`; `repr` is safe."""

    value: Any

    def __repr__(self) -> str:
        return "Secret(<redacted>)"


def is_secret_marker(value: Any) -> bool:
    """A wire value `{SIG_KEY: SECRET_SIG, "value": ...}`."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def secret_marker(value: Any) -> dict:
    return {SIG_KEY: SECRET_SIG, "value": value}


def reveal(value: Any) -> Any:
    """The value with every `Secret` unwrapped (for the rules, which must see real values)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def redact(value: Any, placeholder: str = REDACTED) -> Any:
    """The value with every `Secret` replaced by `placeholder` (for anything written or printed)."""
    if isinstance(value, Secret):
        return placeholder
    if isinstance(value, dict):
        return {k: redact(v, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, placeholder) for v in value]
    return value


def secret_values(value: Any) -> list:
    """Every scalar inside a `Secret` or a wire secret marker (what must never appear in output)."""
    out: list = []

    def walk(v: Any, inside: bool) -> None:
        if isinstance(v, Secret):
            walk(v.value, True)
        elif is_secret_marker(v):
            walk(v.get("value"), True)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item, inside)
        elif isinstance(v, list):
            for item in v:
                walk(item, inside)
        elif inside and v is not None and not isinstance(v, bool):
            out.append(v)

    walk(value, False)
    return out


def mark_found(value: Any, holds_secret: Callable[[str], bool]) -> Any:
    """The value with every string for which `holds_secret` is true wrapped in `Secret` (a secret the
    program passed on as a plain value stays secret)."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, dict):
        return {k: mark_found(v, holds_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_found(v, holds_secret) for v in value]
    return Secret(value) if isinstance(value, str) and holds_secret(value) else value


def decode(value: Any) -> Any:
    """Wire JSON (secret markers) -> Python values with `Secret` wrappers."""
    if is_secret_marker(value):
        return Secret(decode(value.get("value")))
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value
