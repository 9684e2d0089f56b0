"""What a container runs, as words: command and args split like a shell would, and the Redis options in them."""
from __future__ import annotations

import re
import shlex
from typing import Any, Iterator

from stateless_pack.policies.manifest import UNKNOWN, command_line


def command_words(container) -> Iterator[tuple[tuple, Any]]:
    """(path of the item relative to the container, token) over command + args; shell strings are split into words."""
    for rel, item in command_line(container):
        if item is UNKNOWN:
            yield rel, UNKNOWN
        elif isinstance(item, str):
            try:
                words = shlex.split(item)
            except ValueError:  # unbalanced quotes: fall back to plain words
                words = item.split()
            for word in words:
                yield rel, word
        elif item is not None:
            yield rel, str(item)


def requirepass_values(tokens) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every `--requirepass` option ('' if it has no value)."""
    for i, (rel, token) in enumerate(tokens):
        if not isinstance(token, str):
            continue
        if token == "--requirepass":
            following = tokens[i + 1] if i + 1 < len(tokens) else (rel, "")
            yield following[0], following[1]
        elif token.startswith("--requirepass="):
            yield rel, token.split("=", 1)[1]


def is_reference(text: str) -> bool:
    """`$(VAR)` (expanded by Kubernetes) or `$VAR` / `${VAR}` (expanded by a shell)."""
    return bool(re.fullmatch(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", text))
