"""policies/redaction.py: every quoted form of a secret, whatever its length, in one pass."""
from __future__ import annotations

import json

import pytest

from stateless_pack.policies.redaction import REDACTED, redact


@pytest.mark.parametrize("secret", ["it's\n\"quoted\"", "tab\there", "ünïcode-välue", "back\\slash"])
def test_every_quoted_form_is_redacted(secret):
    text = f"raw {secret} repr {secret!r} list {[secret]!r} escaped {secret.encode('unicode_escape').decode()}"
    out = redact(text, [secret])
    assert out.count(REDACTED) == 4, out
    assert secret not in out and repr(secret)[1:-1] not in out


@pytest.mark.parametrize("secret", ["q", "7", "ab"])
def test_one_and_two_character_secrets_are_redacted_where_they_are_quoted(secret):
    text = f"annotation value {secret!r}; env X={secret}; ({secret})"
    out = redact(text, [secret])
    assert out == f"annotation value {REDACTED}; env X={REDACTED}; ({REDACTED})"


def test_a_short_secret_is_matched_as_a_word_not_inside_other_words():
    assert redact("replicas 12 in namespace shop: 1", ["1"]) == f"replicas 12 in namespace shop: {REDACTED}"
    assert redact("the shop", ["sh"]) == "the shop"


def test_one_pass_never_redacts_inside_the_placeholder():
    """Each secret is a letter of the placeholder itself: replacing one after the other would mangle it."""
    assert redact("e and d and r", ["e", "d", "r", "red", "<"]) == f"{REDACTED} and {REDACTED} and {REDACTED}"


def test_json_of_a_redacted_message_holds_no_secret():
    secret = 'pa"ss\\word'
    message = redact(f"value {secret!r} and {secret}", [secret])
    assert secret not in json.dumps(message) and json.dumps(secret)[1:-1] not in json.dumps(message)


def test_url_userinfo_is_redacted_without_being_named():
    assert redact("redis://:pw@redis:6379", []) == f"redis://{REDACTED}@redis:6379"
