"""What a pack diagnostic says, written and read in this one module.

`<Kind>/<namespace>/<name>: <what> (field <path>).[ unknown note] Fix: <remediation>[ [waiver note]]`

No engine decides anything from these sentences: the gate takes policy name, URN and enforcement
level from the diagnostic's own fields. `parse` exists for tests and for people who read the CLI's
output, and `tests/policies/crossguard/test_messages.py` checks that it inverts `write`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stateless_pack.policies.waivers.model import ResourceRef

UNKNOWN_NOTE = ("This cannot be verified during preview because the value is unknown; it will be "
                "checked at `pulumi up`.")
_MESSAGE = re.compile(
    r"(?P<resource>[^\s:]+/[^\s:]+/[^\s:]+): (?P<what>.*?) \(field (?P<path>.*?)\)\."
    r"(?P<unknown> " + re.escape(UNKNOWN_NOTE) + r")? Fix: (?P<fix>.*?)(?: \[(?P<note>[^\[\]]*)\])?$",
    re.DOTALL)


@dataclass(frozen=True)
class Message:
    resource: str        # Kind/namespace/name
    what: str
    path: str
    fix: str
    unknown: bool = False
    note: str = ""       # e.g. who waived it until when


def write(message: Message) -> str:
    unknown = f" {UNKNOWN_NOTE}" if message.unknown else ""
    note = f" [{message.note}]" if message.note else ""
    return f"{message.resource}: {message.what} (field {message.path}).{unknown} Fix: {message.fix}{note}"


def parse(text: str) -> Message | None:
    """The parts of a message `write` wrote, found anywhere in `text` (the SDK may add a prefix)."""
    for start in [0] + [m.end() for m in re.finditer(r": |\n", text)]:
        found = _MESSAGE.match(text, start)
        if found:
            return Message(found["resource"], found["what"], found["path"], found["fix"],
                           unknown=bool(found["unknown"]), note=found["note"] or "")
    return None


def about(ref: ResourceRef, what: str, path: str, fix: str, *, unknown: bool = False, note: str = "") -> str:
    return write(Message(ref.display, what, path, fix, unknown, note))
