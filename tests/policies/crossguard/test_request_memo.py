"""policies/request_memo.py: one conversion of a request's properties per gRPC call, and only then."""
from __future__ import annotations

import threading

from pulumi_policy import policy as sdk

from stateless_pack.policies.crossguard import request_memo
from stateless_pack.policies.crossguard.pack import build_policies


def test_the_pinned_sdk_has_what_the_memo_patches():
    # If pulumi-policy renames these, install() leaves the SDK alone (correct, only slower):
    # this test says so instead of letting the pack slow down unnoticed.
    build_policies()
    assert request_memo.install() is True
    assert hasattr(sdk.deserialize_properties, "__wrapped__")
    assert hasattr(sdk.unknown_checking_proxy, "__wrapped__")
    assert getattr(sdk._PolicyAnalyzerServicer._configure_runtime_settings, "_opens_memo", False)


def _in_fresh_thread(fn):
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join()
    return result[0]


def test_outside_a_call_nothing_is_remembered():
    calls = []
    value = {"a": 1}

    def run():
        return [request_memo.memoized("t", value, lambda: calls.append(1) or len(calls)) for _ in range(3)]

    assert _in_fresh_thread(run) == [1, 2, 3]


def test_within_a_call_the_same_value_is_converted_once_and_a_new_call_forgets():
    build_policies()
    servicer = sdk._PolicyAnalyzerServicer.__new__(sdk._PolicyAnalyzerServicer)
    calls = []
    value, other = {"a": 1}, {"a": 1}  # equal but distinct: identity, not equality, is the key

    def convert():
        calls.append(1)
        return len(calls)

    def run():
        sdk._PolicyAnalyzerServicer._configure_runtime_settings(servicer)  # a call starts
        first = [request_memo.memoized("t", value, convert) for _ in range(3)]
        distinct = request_memo.memoized("t", other, convert)
        other_tag = request_memo.memoized("u", value, convert)
        sdk._PolicyAnalyzerServicer._configure_runtime_settings(servicer)  # the next call
        again = request_memo.memoized("t", value, convert)
        return first, distinct, other_tag, again

    assert _in_fresh_thread(run) == ([1, 1, 1], 2, 3, 4)
