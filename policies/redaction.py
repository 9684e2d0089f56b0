"""Keeping credentials out of every text we write: one marker, one notion of what is sensitive.

The pack's SDK deserializes secrets to plain values and drops Pulumi's secret marker, so messages
never carry values found at credential-bearing positions: Secret `data`/`stringData`, values under
credential-like keys or env names (password, token, key, secret, credential, DSN, URL...) and the
userinfo part of URLs. Values are matched in every form a message may quote them in (as written, as
Python's repr and as JSON would print them), in one pass over the text (a placeholder is never
searched again), in time linear in the text's size: all forms are compiled into one pattern shaped
like a trie, so that each position of the text is looked at once per character of the longest match.

A value is redacted where it stands as a token of its own: not glued to a letter, digit or `_` on a
side where the value itself begins or ends with one. So a secret `pass` never turns `password` or
`bypass` into `<redacted>`, while `pass`, `'pass'`, `--pw=pass` and `user:pass@` are redacted. A
value of `ANYWHERE_LENGTH` characters or more is redacted wherever it appears, glued to a word or not:
no ordinary word contains one that long, and a secret pasted into a longer token must not show.
Known secrets of any length are redacted (even one character, where it stands alone); only values
guessed from names, without Pulumi's marker, need `_MIN_GUESSED_LENGTH` characters.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Callable, Iterable

from stateless_pack.policies.credentials import may_hold_credential
from stateless_pack.policies.manifest import get, kind_of

REDACTED = "<redacted>"
ANYWHERE_LENGTH = 12

# The scheme is bounded (RFC 3986 schemes are short): unbounded, a long run of letters without "://"
# made this pattern quadratic in the text's length.
URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]{0,31}://)[^/@\s]+@", re.IGNORECASE)
# Guessed values (not marked secret) shorter than this would redact ordinary words in messages.
_MIN_GUESSED_LENGTH = 3
_WORD = re.compile(r"\w")


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
    forms = {value, repr(value)[1:-1], repr(value), json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms.add(value.encode("unicode_escape").decode("ascii"))
    return {f for f in forms if f}


def _is_word(char: str) -> bool:
    return bool(_WORD.match(char))


def _trie_pattern(forms: Iterable[str], bounded: bool) -> str:
    """One regular expression matching each of `forms` (the longest where several match), shaped as a
    trie so that matching costs one step per character. `bounded`: only as tokens (see the module)."""
    trie: dict = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}  # a form ends here

    def head(char: str, first: bool) -> str:
        text = re.escape(char)
        if first and bounded and _is_word(char):
            text += rf"(?<!\w{re.escape(char)})"  # after the character: the pattern still starts with a literal
        return text

    def branch(node: dict, previous: str, first: bool) -> str:
        # A run of nodes with one child and no form ending is a literal: walked, not recursed into
        # (a secret of thousands of characters, a PEM key, would exceed Python's recursion limit).
        literal = ""
        while "" not in node and len(node) == 1:
            [char] = node
            literal += head(char, first)
            node, previous, first = node[char], char, False
        options = [head(char, first) + branch(node[char], char, False) for char in sorted(c for c in node if c)]
        if "" in node:  # the shorter match last: the longer one is tried first
            options.append(r"(?!\w)" if bounded and _is_word(previous) else "")
        return literal + (options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")")

    return branch(trie, "", True) if trie else ""


def _values_pattern(sensitive: Iterable[Any]) -> re.Pattern | None:
    forms = {form for value in sensitive if value is not None and str(value)
             for form in quoted_forms(str(value))}
    anywhere = [f for f in forms if len(f) >= ANYWHERE_LENGTH]
    tokens = [f for f in forms if len(f) < ANYWHERE_LENGTH]
    parts = [p for p in (_trie_pattern(anywhere, False), _trie_pattern(tokens, True)) if p]
    # the long forms first: at one position, a long form wins over a short one it starts with
    return re.compile("|".join(parts)) if parts else None


def finder(sensitive: Iterable[Any]) -> Callable[[str], bool]:
    """Whether a text holds a form of one of the values, where `redact` would replace it."""
    pattern = _values_pattern(sensitive)
    return (lambda text: pattern.search(text) is not None) if pattern is not None else (lambda text: False)


def redactor(sensitive: Iterable[Any]) -> Callable[[str], str]:
    """`redact` for one set of values, compiled once (for many texts)."""
    pattern = _values_pattern(sensitive)

    def apply(text: str) -> str:
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return apply


def redact(text: str, sensitive: Iterable[Any]) -> str:
    """`text` with every form of every sensitive value, and URL userinfo, replaced by REDACTED."""
    return redactor(sensitive)(text)
