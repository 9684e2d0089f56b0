"""policies/strict_yaml.py: the shared loader is strict (duplicate keys, keys that are not plain data),
loads merge keys, and refuses alias bombs in linear time before construction."""
from __future__ import annotations

import time

import pytest
import yaml

from stateless_pack.policies.strict_yaml import (
    MAX_EXPANDED_NODES, AliasBombError, StrictLoader, error_line, expanded_size,
)


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


def bomb(levels: int = 9, width: int = 9) -> str:
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['x'] * width)}]"]
    lines += [f"{n}: &{n} [{', '.join(['*' + p] * width)}]" for p, n in zip(names, names[1:])]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_with_its_line():
    started = time.monotonic()
    with pytest.raises(AliasBombError) as refused:
        list(yaml.load_all("kind: fine\n---\n" + bomb(), Loader=StrictLoader))
    assert time.monotonic() - started < 2
    assert "alias bomb" in str(refused.value) and refused.value.problem_mark.line == 2


def test_a_document_that_contains_itself_is_refused():
    with pytest.raises(AliasBombError, match="contains itself"):
        yaml.load("a: &a [1, *a]\n", Loader=StrictLoader)


def test_ordinary_aliases_and_merge_keys_still_load():
    assert yaml.load("base: &b {x: 1}\nuse: *b\nmerged: {<<: *b, y: 2}\n", Loader=StrictLoader) == {
        "base": {"x": 1}, "use": {"x": 1}, "merged": {"x": 1, "y": 2}}


def test_the_limit_is_on_the_expanded_size():
    small = yaml.compose(bomb(levels=5, width=9))  # 9**5 = 59,049 leaves: fine
    assert expanded_size(small) < MAX_EXPANDED_NODES
    assert expanded_size(yaml.compose(bomb(levels=7, width=9))) > MAX_EXPANDED_NODES


def test_deep_nesting_is_counted_without_recursion():
    node = yaml.compose("a: " + "[" * 500 + "]" * 500, Loader=yaml.CSafeLoader)
    assert expanded_size(node) == 502  # the mapping, its key, 500 lists
