"""Keeping credentials out of every text we write: one marker, one notion of what is sensitive.

The pack's SDK deserializes secrets to plain values and drops Pulumi's secret marker, so messages
never carry values found at credential-bearing positions: Secret `data`/`stringData`, values under
credential-like keys or env names (password, token, key, secret, credential, DSN, URL...) and the
userinfo part of URLs. Values are matched in every form a message may quote them in (as written and
as Python's repr would print them), in one pass (a placeholder is never searched again), and even
one- and two-character secrets are redacted when the caller knows them to be secret (the gate and
the pack do: they have Pulumi's markers); so short a value is matched as a whole word only, where
a message quotes it, not inside other words.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Callable, Iterable

from stateless_pack.policies.credentials import may_hold_credential
from stateless_pack.policies.manifest import get, kind_of

REDACTED = "<redacted>"

URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
# Guessed values (not marked secret) shorter than this would redact ordinary words in messages.
_MIN_GUESSED_LENGTH = 3


def sensitive_values(manifest: Any) -> set[str]:
    """String values at credential-bearing positions of a manifest (guessed from names)."""
    found: set[str] = set()

    def leaves(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= _MIN_GUESSED_LENGTH:
                found.add(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                leaves(v)
        elif isinstance(value, list):
            for v in value:
                leaves(v)

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            env_name = value.get("name")
            if isinstance(env_name, str) and "value" in value and may_hold_credential(env_name, as_key=False):
                leaves(value["value"])  # env var / name-value pair with a credential-like name
            for k, v in value.items():
                if isinstance(k, str) and may_hold_credential(k):
                    leaves(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and URL_USERINFO.search(value):
            found.add(value)

    if kind_of(manifest) == "Secret":
        leaves(get(manifest, "data"))
        leaves(get(manifest, "stringData"))
    walk(manifest)
    return found


def quoted_forms(value: str) -> set[str]:
    """The ways a message may show `value`: as is, and inside repr()/JSON quoting (escaped)."""
    forms = {value, repr(value)[1:-1], repr(value)}
    forms.add(value.encode("unicode_escape").decode("ascii"))
    return {f for f in forms if f}


def _pattern(form: str) -> str:
    if len(form) >= _MIN_GUESSED_LENGTH:
        return re.escape(form)
    return rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])"  # a short one: as a word only


def redactor(sensitive: Iterable[Any]) -> Callable[[str], str]:
    """`redact` for one set of values, compiled once (for many texts)."""
    forms = {form for value in sensitive if value is not None and str(value)
             for form in quoted_forms(str(value))}
    # longest first: no partial leftovers; one pass: a placeholder is never searched again
    pattern = re.compile("|".join(_pattern(f) for f in sorted(forms, key=len, reverse=True))) if forms else None

    def apply(text: str) -> str:
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return apply


def redact(text: str, sensitive: Iterable[Any]) -> str:
    """`text` with every form of every sensitive value, and URL userinfo, replaced by REDACTED."""
    return redactor(sensitive)(text)
