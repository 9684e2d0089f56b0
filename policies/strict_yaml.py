"""The one YAML loader for files people write (manifests, waiver registries, approvers): strict.

- A key repeated in one mapping is an error (plain YAML silently keeps the last value: which one
  would the cluster or the registry use?). Keys merged in with `<<:` may be overridden, as YAML says.
- A key that is not plain data (a mapping or list used as a key, as an unrendered Helm `{{ }}`
  template reads) is an error with its line, never a crash.
- Safe types only; libyaml's parser where it is built in.
"""
from __future__ import annotations

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(_BASE):
    """SafeLoader that rejects duplicate and non-scalar mapping keys."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found a {'mapping' if isinstance(key_node, yaml.MappingNode) else 'list'} used as "
                        "a key (an unrendered template?)", key_node.start_mark)
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def error_position(error: yaml.YAMLError) -> str:
    """`line L, column C` of a YAML error (1-based), or `line 1` when the error does not say."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "line 1"


def error_line(error: yaml.YAMLError) -> int:
    """1-based line of a YAML error (1 when the error does not say)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def error_text(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    return f"{context + ': ' if context else ''}{problem}"
