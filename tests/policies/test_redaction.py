"""policies/redaction.py: every quoted form of a secret, whatever its length, in one pass."""
from __future__ import annotations

import json

import pytest

from stateless_pack.policies.redaction import REDACTED, redact, redactor


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


# ---- values, not substrings of words; linear in the text's size ------------------------------------

import string  # noqa: E402
import time  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

from stateless_pack.policies.redaction import ANYWHERE_LENGTH  # noqa: E402

WORD_CHARS = string.ascii_letters + string.digits + "_"
SECRET_CHARS = WORD_CHARS + "-.:/@'\"\\ !é\n"
SEPARATORS = " \t,;()[]{}=<>|\n"


def masked(text: str) -> str:
    return text.replace(REDACTED, "\0")


def test_a_short_secret_never_redacts_the_words_that_contain_it():
    assert redact("password bypass passes pass 'pass' --pw=pass", ["pass"]) == (
        f"password bypass passes {REDACTED} {REDACTED} --pw={REDACTED}")  # 'pass' is its repr() form


def test_a_long_secret_is_redacted_even_glued_to_a_word():
    secret = "throwaway-dev-pw-123"
    assert redact(f"Bearer{secret}x and {secret}", [secret]) == f"Bearer{REDACTED}x and {REDACTED}"


@settings(max_examples=300, deadline=None)
@given(secret=st.text(SECRET_CHARS, min_size=1, max_size=30), before=st.sampled_from(SEPARATORS + "^"),
       after=st.sampled_from(SEPARATORS + "$"), words=st.lists(st.text(WORD_CHARS, max_size=8), max_size=4))
def test_a_secret_standing_as_a_token_never_shows_in_any_form(secret, before, after, words):
    filler = " ".join(words)
    for form in (secret, repr(secret), json.dumps(secret), json.dumps(secret)[1:-1]):
        text = f"{filler} {before}{form}{after} {filler}"
        out = redact(text, [secret])
        assert REDACTED in out
        assert form not in masked(out) or form in masked(f"{filler} {before}{after} {filler}")


@settings(max_examples=300, deadline=None)
@given(secret=st.text(WORD_CHARS, min_size=1, max_size=ANYWHERE_LENGTH - 1),
       left=st.text(WORD_CHARS, max_size=5), right=st.text(WORD_CHARS, max_size=5))
def test_a_short_secret_inside_a_longer_word_is_left_alone(secret, left, right):
    word = left + secret + right
    if word != secret:
        assert redact(f"the {word} stays", [secret]) == f"the {word} stays"


@settings(max_examples=200, deadline=None)
@given(secret=st.text(SECRET_CHARS, min_size=ANYWHERE_LENGTH, max_size=40),
       left=st.text(WORD_CHARS, max_size=5), right=st.text(WORD_CHARS, max_size=5))
def test_a_long_secret_never_shows_wherever_it_is_glued(secret, left, right):
    assert secret not in masked(redact(left + secret + right, [secret]))


def test_redaction_is_linear_in_the_texts_size():
    """Texts that defeat naive patterns: long runs of letters (a URL scheme without `://`), prefixes of
    the secrets over and over, many secrets. A quadratic pass takes hours at this size."""
    secrets = [f"secret-{i:03d}-" + "x" * (i % 20) for i in range(100)]
    texts = ["a" * 1_000_000, "http" * 250_000, "secret-0" * 125_000, ("x" * 40 + " ") * 25_000,
             "".join(s[:-1] + " " for s in secrets) * 400]
    scrub = redactor(secrets)
    started = time.monotonic()
    for text in texts:
        scrub(text)
    assert time.monotonic() - started < 15


def test_a_secret_of_thousands_of_characters_is_redacted():
    """A PEM key or a service-account JSON as a secret: the pattern is built without recursing per character."""
    key = "-----BEGIN PRIVATE KEY-----\n" + "".join(f"MIIEv{i:04d}" for i in range(400)) + "\n-----END PRIVATE KEY-----"
    text = f"error: could not load {key!r} (bad key)"
    assert redact(text, [key]) == f"error: could not load {REDACTED} (bad key)"
    assert redact(key[:-1], [key]) == key[:-1]  # a prefix is not the value
