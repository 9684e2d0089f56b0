"""What a container runs, as words: command and args split like a shell would, and what the words set.

Kubernetes runs `command` + `args` without a shell; an item is a shell script only when a shell is
given it (`sh -c SCRIPT`), which is why the readers here tell scripts (items with several words) from
plain argv items. What the words set: shell assignments (`export NAME=value`, `NAME=value cmd`, the
`env` program's `NAME=value`), JVM system properties (`-Dkey=value`), long options (`--name=value`,
`--name value`, Go-style `-name value`), the short options a known program reads as a value
(mysql's `-pSECRET`, redis-cli's `-a SECRET`), and the Redis options (`--requirepass`).
"""
from __future__ import annotations

import os
import re
import shlex
from typing import Any, Iterator

from stateless_pack.policies.manifest import UNKNOWN, command_line

# Words after which the next word is a command again: operators and keywords (as words of their own
# or ending a word: `cd /app;`), and the builtins that run the command after them (`exec cmd`).
_COMMAND_FOLLOWS = frozenset({"&&", "||", ";", "|", "&", "(", ")", "{", "}", "!", "then", "do", "else", "elif",
                              "exec", "nohup", "time", "command"})
_OPERATOR_ENDINGS = (";", "&&", "||", "|", "&")
# Shell builtins and programs whose NAME=value words set environment variables.
_EXPORTERS = frozenset({"export", "env", "declare", "typeset", "readonly", "local"})
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.S)
_REFERENCE = re.compile(r"\$\(|\$\{|\$[A-Za-z_]")


def split_words(text: str) -> list[str]:
    """A string split into words like a POSIX shell would (quotes removed); unbalanced quotes fall
    back to plain words."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def command_words(container) -> Iterator[tuple[tuple, Any]]:
    """(path of the item relative to the container, token) over command + args; shell strings are split into words."""
    for rel, item in command_line(container):
        if item is UNKNOWN:
            yield rel, UNKNOWN
        elif isinstance(item, str):
            yield from ((rel, word) for word in split_words(item))
        elif item is not None:
            yield rel, str(item)


def _program(word: str) -> str:
    return os.path.basename(word)


def _command_follows(word: str) -> bool:
    return word in _COMMAND_FOLLOWS or word.endswith(_OPERATOR_ENDINGS)


def _following(tokens: list, i: int) -> tuple:
    """The (path, word) after token `i`: an option's separate value ('' at the end)."""
    return tokens[i + 1] if i + 1 < len(tokens) else (tokens[i][0], "")


def _cut(value: str) -> str:
    """An assignment's value up to a shell operator glued to it (`NAME=value;` or `NAME=value&&`)."""
    return re.split(r"[;&|]", value, maxsplit=1)[0]


def _script_assignments(words: list[str]) -> Iterator[tuple[str, str]]:
    """(name, value) of the assignments a shell script makes: words at command position
    (`NAME=value cmd`, `NAME=value;`) or given to `export`/`env`/..., never arguments of a command."""
    at_command, exporter = True, None
    for word in words:
        match = _ASSIGNMENT.match(word)
        if match and (at_command or exporter):
            yield match["name"], _cut(match["value"])
        elif at_command and word in _EXPORTERS:
            at_command, exporter = False, word
        elif not (exporter and (word.startswith("-") or (exporter != "env" and word.isidentifier()))):
            at_command, exporter = False, None  # a command and its arguments (`export -n`, `export NAME` go on)
        if _command_follows(word):
            at_command, exporter = True, None


def shell_assignments(container) -> Iterator[tuple[tuple, str, str]]:
    """(path of the item, name, value) of every variable the command line sets for what it runs:
    assignments in shell scripts (items of several words), and `NAME=value` items right after the
    `env` program."""
    after_env = False
    for rel, item in command_line(container):
        if not isinstance(item, str):
            after_env = False
            continue
        words = split_words(item)
        if len(words) > 1:
            yield from ((rel, name, value) for name, value in _script_assignments(words))
            after_env = False
            continue
        match = _ASSIGNMENT.match(item)
        if after_env and match:
            yield rel, match["name"], match["value"]
        else:
            after_env = _program(item) == "env" or (after_env and item.startswith("-"))


def java_properties(tokens) -> Iterator[tuple[tuple, str, str]]:
    """(path, key, value) of every JVM system property `-Dkey=value` among (path, word) tokens."""
    for rel, token in tokens:
        if isinstance(token, str) and token.startswith("-D") and "=" in token:
            key, value = token[2:].split("=", 1)
            if key:
                yield rel, key, value


def long_options(tokens) -> Iterator[tuple[tuple, str, str, bool]]:
    """(path of the value, name, value, attached) of every long option: `--name=value` (attached),
    `--name value` and Go-style single-dash `-name value` / `-name=value` (names of three letters or
    more; not `-D` properties). A value is '' when the option is followed by another option, a shell
    operator or nothing."""
    tokens = list(tokens)
    for i, (rel, token) in enumerate(tokens):
        if not isinstance(token, str):
            continue
        match = re.match(r"^(--|-(?=[A-Za-z][\w.-]{2}))(?P<name>[A-Za-z][\w.-]*)(?:=(?P<value>.*))?$", token, re.S)
        if match is None or (token.startswith("-D") and not token.startswith("--")):
            continue
        if match["value"] is not None:
            yield rel, match["name"], match["value"], True
            continue
        value_path, value = _following(tokens, i)
        if isinstance(value, str) and (value.startswith("-") or _command_follows(value)):
            value = ""
        yield value_path, match["name"], value, False


def program_option_values(tokens, options: dict) -> Iterator[tuple[tuple, str, str, Any]]:
    """(path of the value, program, option, value) of the short options `options` lists per program
    (`{"mysql": ("-p", "attached")}`: `attached` takes only `-pVALUE`, `next` also `-p VALUE`).
    A program's options count from its name to the end of its shell command."""
    tokens = list(tokens)
    program = None
    for i, (rel, token) in enumerate(tokens):
        if not isinstance(token, str):
            continue
        if _program(token) in options:
            program = _program(token)
            continue
        if program is not None:
            flag, how = options[program]
            if token.startswith(flag) and len(token) > len(flag):
                yield rel, program, flag, token[len(flag):]
            elif token == flag and how == "next":
                value_path, value = _following(tokens, i)
                yield value_path, program, flag, value
        if _command_follows(token):
            program = None


def requirepass_values(tokens) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every `--requirepass` option ('' if it has no value)."""
    for i, (rel, token) in enumerate(tokens):
        if not isinstance(token, str):
            continue
        if token == "--requirepass":
            yield _following(tokens, i)
        elif token.startswith("--requirepass="):
            yield rel, token.split("=", 1)[1]


def is_reference(text: str) -> bool:
    """`$(VAR)` (expanded by Kubernetes) or `$VAR` / `${VAR}` (expanded by a shell)."""
    return bool(re.fullmatch(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", text))


def has_reference(text: str) -> bool:
    """Does a command line word take part of its value from a variable or a command (`$(VAR)`,
    `${VAR:-x}`, `$VAR`, `$(cat FILE)`)? Its value is then not written in the manifest."""
    return bool(_REFERENCE.search(text))
