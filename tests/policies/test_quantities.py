"""policies/quantities.py: Kubernetes quantities read exactly, and what is no quantity refused."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from stateless_pack.policies.quantities import QUANTITY_PATTERN, SIZE_PATTERN, parse_quantity

GI = 2 ** 30


@pytest.mark.parametrize("text, value", [
    ("512Mi", 512 * 2 ** 20), ("10Gi", 10 * GI), ("10240Mi", 10 * GI), ("0.5Gi", GI // 2), ("1Ki", 1024),
    ("1Ei", 2 ** 60), ("1G", 10 ** 9), ("1k", 1000), ("1M", 10 ** 6), ("1E", 10 ** 18),  # E alone: exa
    ("1e3", 1000), ("1E3", 1000), ("1.5e3", 1500), ("2e+2", 200), ("5e-1", Decimal("0.5")),
    ("100m", Decimal("0.1")), ("250u", Decimal("0.00025")), ("3n", Decimal("3e-9")),
    ("10737418240", 10 * GI), (".5", Decimal("0.5")), ("5.", 5), ("+5", 5), ("-1Gi", -GI), ("0", 0),
    (10737418240, 10 * GI), (1.5, Decimal("1.5")), (0, 0),
])
def test_quantities_read_as_kubernetes_reads_them(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["lots", "", "Gi", "1gi", "1KiB", "1 Gi", " 1Gi", "1Gi ", "1e", "1e1.5", "1.2.3",
                                  "0x10", "1_000", "1e99999999999", "9" * 65, True, None, [1], {"a": 1},
                                  float("inf"), float("nan")])
def test_what_kubernetes_would_refuse_is_no_quantity(text):
    assert parse_quantity(text) is None


def test_a_huge_exponent_is_above_any_bound_without_an_error():
    assert parse_quantity("1e999999999") > parse_quantity("1Ei")
    assert Decimal(0) < parse_quantity("1e-999999999") < parse_quantity("1n")


def test_the_schema_pattern_accepts_exactly_the_quantity_strings():
    for text in ("512Mi", "1e3", "100m", "-1", ".5", "lots", "1gi", "1 Gi", "1e", "+2Gi", "-0.5Gi"):
        assert bool(re.search(QUANTITY_PATTERN, text)) == (parse_quantity(text) is not None), text
        assert bool(re.search(SIZE_PATTERN, text)) == (parse_quantity(text) is not None and "-" not in text), text
