"""Framework config files read as settings, each format by a real parser, every failure one error type.

Formats: INI (php.ini), Java properties, YAML, JSON with comments (appsettings.json), Python settings
modules, XML, dotenv.

Every reader takes the file's text and returns plain values; any content it cannot read raises
`ConfigFileError` (never another exception), so a caller can report the file instead of crashing
or passing it unread.
"""
from __future__ import annotations

import ast
import configparser
import json
import re
import xml.etree.ElementTree as ElementTree
from typing import Any

import yaml

from stateless_pack.policies.strict_yaml import StrictLoader, error_position, error_text

# A file's values are flattened into at most this many settings: YAML aliases can make a small file
# describe an exponentially large tree.
MAX_SETTINGS = 10_000


class ConfigFileError(ValueError):
    """The text is not a valid file of the expected format. The message says why and where, on one line,
    never quoting the file (it may come from a Secret)."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


def flatten(value: Any, separator: str, prefix: str = "", out: dict | None = None) -> dict:
    """{"a.b[0].c": leaf} for nested mappings and lists (keys joined with `separator`)."""
    out = {} if out is None else out
    if isinstance(value, dict) and value:
        for key, item in value.items():
            flatten(item, separator, f"{prefix}{separator}{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            flatten(item, separator, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value
    if len(out) > MAX_SETTINGS:
        raise ConfigFileError(f"more than {MAX_SETTINGS} settings")
    return out


def read_ini(text: str) -> dict[str, str]:
    """php.ini-style: `key = value` lines, `;`/`#` comments, optional [sections] (later keys win); keys
    keep their case (PHP-FPM's `env[NAME]` is case-sensitive)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, allow_no_value=True,
                                       delimiters=("=",), comment_prefixes=(";", "#"),
                                       inline_comment_prefixes=(";",), empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[method-assign]
    try:  # PHP reads an indented line as a line of its own, not as the previous value continued
        parser.read_string("[top]\n" + "\n".join(line.lstrip() for line in text.splitlines()))
    except configparser.ParsingError as exc:  # its text quotes the line: name the line only
        raise ConfigFileError(f"line {exc.errors[0][0] - 1}: not a `key = value` setting") from None
    except configparser.Error as exc:
        raise ConfigFileError(type(exc).__name__) from None
    values: dict[str, str] = {}
    for section in parser.sections():
        values.update((key, (value or "").strip().strip("\"'")) for key, value in parser.items(section))
    return values


_PROPERTY = re.compile(r"^[ \t\f]*(?P<key>(?:[^\s=:\\]|\\.)*)[ \t\f]*[=:]?[ \t\f]*(?P<value>.*)$", re.S)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)  # \t, \n or \uXXXX never matter for the settings read here


def read_properties(text: str) -> dict[str, str]:
    """Java `.properties`: `key=value`, `key: value` or `key value`; `#`/`!` comments; a trailing
    backslash continues the line."""
    values = {}
    for line in re.sub(r"\\\r?\n[ \t\f]*", "", text).splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "!")):
            continue
        match = _PROPERTY.match(line)
        if match:
            values[_unescape(match["key"])] = _unescape(match["value"].rstrip())
    return values


def read_yaml_documents(text: str) -> list[dict]:
    """Every document of a (multi-document) YAML file, flattened to dotted keys; keys must be unique
    in a mapping (as Spring Boot's loader requires)."""
    try:
        return [flatten(doc, ".") for doc in yaml.load_all(text, Loader=StrictLoader) if doc is not None]
    except yaml.YAMLError as exc:  # without the snippet of the file a pure-Python loader would quote
        raise ConfigFileError(f"{error_text(exc)} ({error_position(exc)})") from None
    except RecursionError:
        raise ConfigFileError("nested too deeply") from None


_JSON_COMMENT = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.S)
_JSON_TRAILING_COMMA = re.compile(r'("(?:\\.|[^"\\])*")|,(?=\s*[}\]])', re.S)


def read_json(text: str) -> dict:
    """JSON as .NET configuration reads it (comments and trailing commas allowed), flattened with `:`
    as .NET does (its keys are case-insensitive: compare them in lower case)."""
    for noise in (_JSON_COMMENT, _JSON_TRAILING_COMMA):
        text = noise.sub(lambda m: m.group(1) or "", text)
    try:
        return flatten(json.loads(text), ":")
    except (ValueError, RecursionError) as exc:  # ConfigFileError is a ValueError too
        raise ConfigFileError(str(exc)) from None


def read_python_settings(text: str) -> dict[str, Any]:
    """The top-level `NAME = <literal>` assignments of a Python settings module (Django, Flask). Values
    computed at run time (os.environ, function calls) are not visible and are left out."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ConfigFileError(f"line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a null byte; nested deeper than the parser goes
        raise ConfigFileError(type(exc).__name__) from None
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if not all(isinstance(t, ast.Name) for t in targets):
            continue
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        values.update((target.id, value) for target in targets)
    return values


def read_xml(text: str) -> ElementTree.Element:
    """The root element (entities are never fetched; expat limits entity expansion)."""
    try:
        return ElementTree.fromstring(text)
    except (ElementTree.ParseError, RecursionError, ValueError) as exc:
        raise ConfigFileError(str(exc)) from None


_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(?P<value>.*?)\s*$")


def read_dotenv(text: str) -> dict[str, str]:
    """A dotenv file (`.env`, as Laravel reads it): `KEY=value` lines, `#` comments, quoted values."""
    values = {}
    for line in text.splitlines():
        match = _DOTENV_LINE.match(line)
        if not match:
            continue  # a comment, a blank line or not a setting
        value = match["value"]
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[match["key"]] = value
    return values
