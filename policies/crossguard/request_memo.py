"""Convert a request's resource properties once, not once per policy and call.

pulumi-policy's servicer (pulumi_policy/policy.py) runs, for every policy of the pack, on the same
request: `unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(properties)))`;
our policies then turn the proxy into manifests (`crossguard/manifests.py`). With 18 policies
that is up to 18 conversions of every resource per call, and the engine sends every resource
twice (its own Analyze, then AnalyzeStack with all of them). `install()` memoizes those steps.
Every request method of the servicer starts with `_configure_runtime_settings()`; wrapping it
opens a fresh per-thread memo keyed by identity, so concurrent calls never share those entries.
Across calls, a result is shared by content: a request's message by its bytes, what was derived
from it by that content and the steps taken (a cache for the pack process, that is one preview).
Steps called with options (Remediate's secret-preserving proxies, which a remediation may write
through) stay within their call. `Remediate` answers at once when no policy remediates (ours only
validate): the SDK would convert the properties and then find nothing to do.

The same wrapper notes the values the engine marked secret in the call's requests (the SDK then
drops the marks): `call_secrets()` gives them to the pack's message redaction, so that a rule quoting
a secret value never shows it, whatever its length or position.

Entries keep a reference to the value they were computed from (its id cannot be reused while the
entry lives). Policies only read the converted values they share. If the SDK no longer has these
names, nothing is patched: the pack stays correct, only slower.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable

from google.protobuf.message import Message
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

_local = threading.local()
_shared: dict = {}  # content -> result, across the calls of this pack process (one preview)
_MISSING = object()
SHARED_MAX = 200_000  # entries (about 8 per resource): far above any stack, a cap on memory
_PATCHED_NAMES = ("json_format", "deserialize_properties", "unknown_checking_proxy")


def memoized(tag: Hashable, value: Any, compute: Callable[[], Any], shared: bool = True) -> Any:
    """`compute()`, or its earlier result for the same `value` within the current call; with
    `shared`, also its result for equal content in an earlier call (see `_content_key`)."""
    table = getattr(_local, "table", None)
    if table is None:  # not inside a servicer call (e.g. a unit test calling a policy directly)
        return compute()
    key = (tag, id(value))
    hit = table.get(key)
    if hit is not None and hit[0] is value:
        return hit[1]
    content = _content_key(value) if shared else None
    if content is None:
        result = compute()
    else:
        content = (content, tag)
        result = _shared.get(content, _MISSING)
        if result is _MISSING:
            result = compute()
            if len(_shared) >= SHARED_MAX:
                _shared.clear()  # a bound, not a policy: the next calls convert again
            _shared[content] = result
        _local.origin[id(result)] = (result, content)
    table[key] = (value, result)
    return result


def _content_key(value: Any) -> Hashable | None:
    """What determines `value` across calls: a value this module computed, the content it was
    computed from; a request's protobuf message, its bytes (None: identity only)."""
    origin = _local.origin.get(id(value))
    if origin is not None and origin[0] is value:
        return origin[1]
    if isinstance(value, Message):
        return type(value).__name__, value.SerializeToString(deterministic=True)
    return None


def current_servicer() -> Any:
    """The SDK servicer handling the current call on this thread (None outside a call)."""
    return getattr(_local, "servicer", None)


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
        if not args and not kwargs:  # the common call: one tag, shared by content across calls
            return memoized(tag, value, lambda: function(value))
        # A step with options (Remediate's `proxy_secrets=True`: proxies a remediation may write
        # through) stays within its call.
        return memoized((tag, args, tuple(sorted(kwargs.items()))), value,
                        lambda: function(value, *args, **kwargs), shared=False)
    wrapper.__wrapped__ = function
    return wrapper


class _JsonFormat:
    """`google.protobuf.json_format` as the servicer sees it, with a per-call MessageToDict."""

    def __init__(self, real):
        self._real = real
        self.MessageToDict = _per_call("MessageToDict", real.MessageToDict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _remediate_only_if_asked(remediate: Callable, sdk) -> Callable:
    """The SDK's Remediate converts the request's properties before it looks for a policy at the
    `remediate` level; with none (this pack's rules only validate) its answer is empty anyway."""
    def wrapper(self, request, context):
        policies = getattr(self, "_PolicyAnalyzerServicer__policies", None)
        if policies is not None and not any(
                isinstance(p, sdk.ResourceValidationPolicy)
                and self._get_enforcement_level(p) == sdk.EnforcementLevel.REMEDIATE for p in policies):
            self._configure_runtime_settings()
            return sdk.proto.RemediateResponse()
        return remediate(self, request, context)
    wrapper.__wrapped__ = remediate
    return wrapper


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
        _local.table, _local.secrets, _local.origin = {}, set(), {}  # a new call on this thread
        _local.servicer = self
        return begin(self, *args, **kwargs)

    configure_runtime_settings._opens_memo = True
    servicer._configure_runtime_settings = configure_runtime_settings
    servicer.Remediate = _remediate_only_if_asked(servicer.Remediate, sdk)
    sdk.json_format = _JsonFormat(sdk.json_format)
    sdk.deserialize_properties = _noting_secrets(_per_call("deserialize_properties", sdk.deserialize_properties))
    sdk.unknown_checking_proxy = _per_call("unknown_checking_proxy", sdk.unknown_checking_proxy)
    return True
