"""Argument validation and waiver markers: the pure helpers behind every component."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from stateless_pack.components import validation as v
from stateless_pack.components.validation import ComponentArgumentError
from stateless_pack.components.waiver_marks import merge_waivers, waiver_annotations
from stateless_pack.policies.catalog import rule_by_name
from stateless_pack.policies.waivers.decisions import WaiverPass
from stateless_pack.policies.waivers.loading import empty_registry
from stateless_pack.policies.waivers.model import ResourceRef


@pytest.mark.parametrize("image", [
    "redis:7.4.2", "registry.example.org:5000/shop/web:1.4.2",
    "web@sha256:" + "a" * 64, "registry.example.org/web:1.0@sha256:" + "b" * 64,
])
def test_pinned_images_pass(image):
    assert v.image(image) == image


@pytest.mark.parametrize("image,message", [
    ("redis", "not pinned"), ("registry.example.org:5000/shop/web", "not pinned"),
    ("redis:latest", "'latest'"), ("web@sha256:123", "malformed digest"), ("", "non-empty"),
    ("web:1.0 ", "without spaces"), ("web:-bad", "malformed tag"),
])
def test_unpinned_images_fail(image, message):
    with pytest.raises(ComponentArgumentError, match=message):
        v.image(image)


@given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
def test_dns1123_labels_pass(name):
    assert v.dns1123_label(name, "name") == name


@pytest.mark.parametrize("name", ["", "Web", "web_1", "-web", "web-", "a" * 64, 7, None])
def test_bad_dns1123_labels_fail(name):
    with pytest.raises(ComponentArgumentError, match="DNS-1123 label"):
        v.dns1123_label(name, "name")


@pytest.mark.parametrize("value", [0, 65536, -1, True, "80", 8.5])
def test_bad_ports_fail(value):
    with pytest.raises(ComponentArgumentError, match="from 1 to 65535"):
        v.port(value)


def test_replicas_need_a_waiver_below_two():
    assert v.replicas(2, None) == 2
    assert v.replicas(1, "W-0001") == 1
    with pytest.raises(ComponentArgumentError, match="below 2"):
        v.replicas(1, None)
    with pytest.raises(ComponentArgumentError, match=">= 1"):
        v.replicas(0, "W-0001")


def test_markers_name_the_catalog_ids():
    annotations = waiver_annotations({"W-0002": ["no-sticky-service", "no-sticky-edge"], "W-0003": ["CKV_K8S_35"]})
    assert annotations == {
        "checkov.io/skip1": f"{rule_by_name('no-sticky-service').checkov_id}=W-0002",
        "checkov.io/skip2": f"{rule_by_name('no-sticky-edge').checkov_id}=W-0002",
        "checkov.io/skip3": "CKV_K8S_35=W-0003",
        "stateless-pack.io/waivers": "W-0002,W-0003",
    }


def test_no_waivers_no_markers():
    assert waiver_annotations({}) == {}


def test_markers_reject_unknown_rules_and_ids():
    with pytest.raises(ComponentArgumentError, match="not in the stateless-pack rule catalog"):
        waiver_annotations({"W-0002": ["no-such-rule"]})
    with pytest.raises(ComponentArgumentError, match="not a waiver id"):
        waiver_annotations({"approved": ["no-sticky-service"]})


def test_merge_keeps_every_rule_once():
    assert merge_waivers({"W-1000": ["a"]}, {"W-1000": ["a", "b"], "W-2000": ["c"]}) == {
        "W-1000": ["a", "b"], "W-2000": ["c"]}


def test_markers_are_read_as_suppressions_by_the_waiver_checker():
    # Contract with the waiver pass: without a registry entry our markers are unbacked.
    annotations = waiver_annotations({"W-0002": ["no-sticky-service"]})
    state = WaiverPass(empty_registry(), [], date(2026, 1, 1))
    problems = state.unbacked({"kind": "Service", "metadata": {"annotations": annotations}},
                              ResourceRef(kind="Service", namespace="shop", name="web"))
    assert len(problems) == 2 and all("W-0002" in p.message for p in problems)
