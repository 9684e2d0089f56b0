"""policies/strict_yaml.py: the one strict loader (repeated keys, keys that are not data, merge keys)."""
from __future__ import annotations

import pytest
import yaml

from stateless_pack.policies.strict_yaml import StrictLoader, error_line


def load(text: str):
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


def test_merge_keys_merge_and_may_be_overridden():
    text = "base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  b: 3\nboth:\n  <<: [*b, {c: 4}]\n"
    assert load(text) == {"base": {"a": 1, "b": 2}, "use": {"a": 1, "b": 3}, "both": {"a": 1, "b": 2, "c": 4}}


@pytest.mark.parametrize("text, line, words", [
    ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a'"),
    ("x:\n  <<: {a: 1}\n  a: 2\n  a: 3\n", 4, "duplicate key 'a'"),
    ("labels:\n  {{ include \"labels\" . }}\n", 2, "mapping used as a key"),
    ("? [a, b]\n: 1\n", 1, "list used as a key"),
])
def test_what_plain_yaml_would_accept_or_crash_on_is_an_error_with_its_line(text, line, words):
    with pytest.raises(yaml.YAMLError) as error:
        load(text)
    assert error_line(error.value) == line and words in str(error.value)
