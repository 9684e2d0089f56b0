"""Kubernetes resource quantities (`512Mi`, `1G`, `10Gi`, `1e3`, `100m`) read as exact numbers.

The grammar of k8s.io/apimachinery's resource.Quantity: a signed decimal number, then a binary SI
suffix (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m k M G T P E) or a decimal exponent (e3, E-2).
A YAML or JSON number is a quantity too. Exact: `Decimal`, so that 10240Mi equals 10Gi.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, Overflow, localcontext
from typing import Any

_NUMBER = r"([0-9]+[.]?[0-9]*|[.][0-9]+)"
_SUFFIX = r"([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
QUANTITY_PATTERN = rf"^([+-]?{_NUMBER}){_SUFFIX}$"
# The JSON schema `pattern` of a setting that is a size: a quantity without a minus sign (plain groups:
# ECMA and Go regular expressions read it too).
SIZE_PATTERN = rf"^([+]?{_NUMBER}){_SUFFIX}$"
_QUANTITY = re.compile(QUANTITY_PATTERN)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}  # powers of 2
_EXPONENT_CAP = 10 ** 6  # beyond Decimal's range: Infinity or zero, as the number is past any bound
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}  # powers of 10


def parse_quantity(value: Any) -> Decimal | None:
    """The quantity's value (bytes, for a size), or None if Kubernetes would not read it as one.
    An exponent too large for any machine gives Infinity, never an error."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    found = _QUANTITY.match(value) if isinstance(value, str) and len(value) <= 64 else None
    if found is None:
        return None
    number, unit = Decimal(found[1]), found[3] or ""
    if unit in _BINARY:
        return number * (2 ** _BINARY[unit])
    exponent = _DECIMAL[unit] if unit in _DECIMAL else int(unit[1:]) if unit else 0
    if abs(exponent) >= 2 ** 31:
        return None  # Kubernetes reads the exponent as a 32-bit integer
    with localcontext() as context:
        context.traps[Overflow] = False
        return number.scaleb(max(min(exponent, _EXPONENT_CAP), -_EXPONENT_CAP))
