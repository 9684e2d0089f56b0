"""The one YAML loader for files people write (manifests, waiver registries, approvers): strict.

- A key repeated in one mapping is an error (plain YAML silently keeps the last value: which one
  would the cluster or the registry use?). Keys merged in with `<<:` may be overridden, as YAML says.
- A key that is not plain data (a mapping or list used as a key, as an unrendered Helm `{{ }}`
  template reads) is an error with its line, never a crash.
- A document whose aliases expand it to more than `MAX_EXPANDED_NODES` nodes (an "alias bomb":
  small on disk, gigabytes once a consumer such as Checkov copies every alias) or that refers to
  itself is an error: counted over the node graph with every shared node counted once per use, in
  linear time, before anything is constructed.
- Safe types only; libyaml's parser where it is built in.
"""
from __future__ import annotations

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_EXPANDED_NODES = 1_000_000  # real manifests, even large CRDs, stay far below


class AliasBombError(yaml.MarkedYAMLError):
    """A document that aliases expand beyond `MAX_EXPANDED_NODES`, or that contains itself."""


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root, limit: int = MAX_EXPANDED_NODES) -> int:
    """Nodes of the document with every alias expanded (stops counting past `limit`); iterative, so
    deep nesting cannot exhaust the stack. Raises AliasBombError for a document that contains itself."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if key in open_nodes:
            raise AliasBombError(None, None, "found a node that contains itself (a recursive alias)",
                                 node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def check_expansion(node) -> None:
    """AliasBombError if the document `node` expands beyond MAX_EXPANDED_NODES."""
    if node is not None and expanded_size(node) > MAX_EXPANDED_NODES:
        raise AliasBombError(None, None, f"aliases expand this document to more than {MAX_EXPANDED_NODES:,} "
                             "nodes (an alias bomb?): refused", node.start_mark)


class StrictLoader(_BASE):
    """SafeLoader that rejects duplicate and non-scalar mapping keys, and alias bombs."""

    def get_node(self):
        node = super().get_node()
        check_expansion(node)
        return node

    def get_single_node(self):
        node = super().get_single_node()
        check_expansion(node)
        return node

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
