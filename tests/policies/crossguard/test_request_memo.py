"""policies/request_memo.py: one conversion of a request's properties per gRPC call, and only then."""
from __future__ import annotations

import threading

from google.protobuf import struct_pb2
from pulumi_policy import policy as sdk

from stateless_pack.gate.pack.engine import launch_pack
from stateless_pack.policies.crossguard import request_memo
from stateless_pack.policies.crossguard.pack import build_policies
from support.pack_harness import PACK_DIR, resource_of
from support.rule_fixtures import load_fixtures


def test_the_pinned_sdk_has_what_the_memo_patches():
    # If pulumi-policy renames these, install() leaves the SDK alone (correct, only slower):
    # this test says so instead of letting the pack slow down unnoticed.
    build_policies()
    assert request_memo.install() is True
    assert hasattr(sdk.deserialize_properties, "__wrapped__")
    assert hasattr(sdk.unknown_checking_proxy, "__wrapped__")
    assert getattr(sdk._PolicyAnalyzerServicer._configure_runtime_settings, "_opens_memo", False)
    assert hasattr(sdk._PolicyAnalyzerServicer.Remediate, "__wrapped__")


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


def _struct(**fields) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(fields)
    return message


def test_equal_request_content_in_a_later_call_is_converted_once_with_what_was_derived_from_it():
    build_policies()
    servicer = sdk._PolicyAnalyzerServicer.__new__(sdk._PolicyAnalyzerServicer)
    calls = []

    def convert(tag):
        calls.append(tag)
        return {"converted": len(calls)}

    def one_call(message, shared=True):
        sdk._PolicyAnalyzerServicer._configure_runtime_settings(servicer)  # a call starts
        converted = request_memo.memoized("to-dict", message, lambda: convert("to-dict"))
        derived = request_memo.memoized("derive", converted, lambda: convert("derive"), shared=shared)
        return converted, derived

    def run():
        first = one_call(_struct(kind="Service", spec={"sessionAffinity": "ClientIP"}))
        equal = one_call(_struct(kind="Service", spec={"sessionAffinity": "ClientIP"}))  # a new message
        other = one_call(_struct(kind="Service", spec={"sessionAffinity": "None"}))
        unshared = one_call(_struct(kind="Service", spec={"sessionAffinity": "None"}), shared=False)
        return first, equal, other, unshared

    first, equal, other, unshared = _in_fresh_thread(run)
    assert equal[0] is first[0] and equal[1] is first[1]  # neither converted again
    assert other[0] is not first[0] and other[0] != first[0]
    assert unshared[0] is other[0] and unshared[1] is not other[1]
    assert calls == ["to-dict", "derive", "to-dict", "derive", "derive"]


def _diagnostics(client, resources) -> list:
    found = [d for r in resources for d in client.analyze(r)] + client.analyze_stack(resources)
    return sorted((d.policy_name, d.urn, d.enforcement_level, d.message) for d in found)


def test_a_pack_sent_the_same_resources_again_answers_the_same():
    # Every rule fixture's documents, cold, then again from the conversions the first round cached.
    fixtures = load_fixtures()
    resources = [resource_of(doc, name=f"r{i}-{j}")
                 for i, fixture in enumerate(fixtures) for j, doc in enumerate(fixture.documents)]
    with launch_pack(PACK_DIR, project="shop", stack="dev", dry_run=True) as pack:
        pack.client.configure()
        cold = _diagnostics(pack.client, resources)
        warm = _diagnostics(pack.client, resources)
    assert warm == cold
    reported = {d[0] for d in cold}
    assert {f.rule.name for f in fixtures if f.rule.stack} & reported  # stack rules among them
    assert {f.rule.name for f in fixtures if not f.rule.stack} & reported


class _CountingJsonFormat:
    def __init__(self, real):
        self.real, self.converted = real, 0

    def MessageToDict(self, *args, **kwargs):  # noqa: N802 - protobuf's name
        self.converted += 1
        return self.real.MessageToDict(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _servicer(policies):
    return sdk._PolicyAnalyzerServicer("p", "0.0.1", policies, sdk.EnforcementLevel.MANDATORY,
                                       None, None, None, None, None, None, None)


def test_remediate_converts_nothing_when_no_policy_remediates_and_runs_when_one_does(monkeypatch):
    request = sdk.proto.AnalyzeRequest(type="kubernetes:core/v1:Service", name="web", urn="urn:x",
                                       properties=_struct(kind="Service"))
    counting = _CountingJsonFormat(sdk.json_format)
    monkeypatch.setattr(sdk, "json_format", counting)
    ours = _servicer(build_policies())
    assert _in_fresh_thread(lambda: ours.Remediate(request, None)) == sdk.proto.RemediateResponse()
    assert counting.converted == 0

    fixing = sdk.ResourceValidationPolicy(name="fix", description="sets a label",
                                          enforcement_level=sdk.EnforcementLevel.REMEDIATE,
                                          remediate=lambda args: {**args.props, "fixed": True})
    answer = _in_fresh_thread(lambda: _servicer([fixing]).Remediate(request, None))
    assert counting.converted == 1
    assert [r.policyName for r in answer.remediations] == ["fix"]
    assert answer.remediations[0].properties["fixed"] is True
