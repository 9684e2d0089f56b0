"""The pack's message format has one writer and one reader (policies/crossguard/messages.py), and the
reader inverts the writer, also behind the prefixes pulumi-policy puts in front."""
from __future__ import annotations

from hypothesis import given, strategies as st

from stateless_pack.policies.crossguard import messages

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=20)
KIND = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=20)
# Free text as rules write it; the one thing it cannot contain is the writer's own field marker.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="[]"), max_size=80).filter(
    lambda s: "(field " not in s and " Fix: " not in s and messages.UNKNOWN_NOTE not in s)
PATH = st.from_regex(r"[a-z][A-Za-z0-9]*(\.[a-zA-Z]+|\[[0-9]+\]|\[\"[a-z./-]+\"\]){0,5}", fullmatch=True)


@given(kind=KIND, namespace=NAME, name=NAME, what=TEXT, path=PATH, fix=TEXT, unknown=st.booleans(),
       note=st.one_of(st.just(""), TEXT.filter(lambda s: s.strip() == s and s)),
       prefix=st.sampled_from(["", "The policy's description.\n",
                               "can't run policy 'x' from policy pack 'y' during preview: "]))
def test_parse_inverts_write(kind, namespace, name, what, path, fix, unknown, note, prefix):
    message = messages.Message(f"{kind}/{namespace}/{name}", what, path, fix, unknown, note)
    assert messages.parse(prefix + messages.write(message)) == message


def test_parse_finds_nothing_in_other_text():
    assert messages.parse("The waiver registry is invalid, so no waiver applies") is None
