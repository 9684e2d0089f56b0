"""Convert a request's resource properties once per gRPC call, not once per policy.

pulumi-policy's servicer (pulumi_policy/policy.py) runs, for every policy of the pack, on the same
request: `unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(properties)))`;
our policies then turn the proxy into a manifest (`crossguard.manifest_from`). With 18 policies
that is up to 18 conversions of every resource per call: in the profile, half of the pack's time
(README, "Benchmark"). `install()` memoizes those steps for the
duration of one call. Every request method of the servicer starts with
`_configure_runtime_settings()`; wrapping it opens a fresh per-thread memo, so nothing outlives
the next call on that thread and concurrent calls never share entries.

The same wrapper notes the values the engine marked secret in the call's requests (the SDK then
drops the marks): `call_secrets()` gives them to the pack's message redaction, so that a rule quoting
a secret value never shows it, whatever its length or position.

Entries are keyed by the identity of the value converted and keep a reference to it (its id cannot
be reused while the entry lives). Policies of one call share the converted values: they only read
them. If the SDK no longer has these names, nothing is patched: the pack stays correct, only slower.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable

from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

_local = threading.local()
_PATCHED_NAMES = ("json_format", "deserialize_properties", "unknown_checking_proxy")


def memoized(tag: Hashable, value: Any, compute: Callable[[], Any]) -> Any:
    """`compute()`, or its earlier result for the same `value` within the current call."""
    table = getattr(_local, "table", None)
    if table is None:  # not inside a servicer call (e.g. a unit test calling a policy directly)
        return compute()
    key = (tag, id(value))
    hit = table.get(key)
    if hit is not None and hit[0] is value:
        return hit[1]
    result = compute()
    table[key] = (value, result)
    return result


def call_secrets() -> frozenset:
    """The values marked secret in the requests of the current call (empty outside a call)."""
    return frozenset(getattr(_local, "secrets", ()))


def _secret_scalars(value: Any, inside: bool = False) -> set:
    """Every scalar inside a secret mark of the engine's wire form, as text."""
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return _secret_scalars(value.get("value"), True)
        return {s for v in value.values() for s in _secret_scalars(v, inside)}
    if isinstance(value, list):
        return {s for v in value for s in _secret_scalars(v, inside)}
    if inside and value is not None and not isinstance(value, bool):
        return {str(value)}
    return set()


def _noting_secrets(function: Callable) -> Callable:
    def wrapper(value, *args, **kwargs):
        found = memoized(("secrets",), value, lambda: _secret_scalars(value))
        if found and hasattr(_local, "secrets"):
            _local.secrets.update(found)
        return function(value, *args, **kwargs)
    wrapper.__wrapped__ = function
    return wrapper


def _per_call(tag: str, function: Callable) -> Callable:
    def wrapper(value, *args, **kwargs):
        return memoized((tag, args, tuple(sorted(kwargs.items()))), value,
                        lambda: function(value, *args, **kwargs))
    wrapper.__wrapped__ = function
    return wrapper


class _JsonFormat:
    """`google.protobuf.json_format` as the servicer sees it, with a per-call MessageToDict."""

    def __init__(self, real):
        self._real = real
        self.MessageToDict = _per_call("MessageToDict", real.MessageToDict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def install() -> bool:
    """Patch pulumi-policy's servicer module (once); False when its names are not what we expect."""
    from pulumi_policy import policy as sdk

    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    begin = getattr(servicer, "_configure_runtime_settings", None)
    if begin is None or not all(hasattr(sdk, n) for n in _PATCHED_NAMES):
        return False
    if getattr(begin, "_opens_memo", False):
        return True

    def configure_runtime_settings(self, *args, **kwargs):
        _local.table, _local.secrets = {}, set()  # a new call on this thread: forget the previous one
        return begin(self, *args, **kwargs)

    configure_runtime_settings._opens_memo = True
    servicer._configure_runtime_settings = configure_runtime_settings
    sdk.json_format = _JsonFormat(sdk.json_format)
    sdk.deserialize_properties = _noting_secrets(_per_call("deserialize_properties", sdk.deserialize_properties))
    sdk.unknown_checking_proxy = _per_call("unknown_checking_proxy", sdk.unknown_checking_proxy)
    return True
