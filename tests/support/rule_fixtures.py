"""The rule fixtures every engine's tests run: tests/fixtures/rules/<rule-name>/{fail,pass}-*.yaml.

A fixture file is a multi-document YAML manifest. Its leading comment lines
`# expect: <Kind>/<name> <field path>` list exactly the violations the rule must report on it
(none in `pass-*` files). A `*near-miss*` file is close to the other outcome (e.g. a Service with a
sessionAffinityConfig but `sessionAffinity: None`). Malformed fixture files raise `FixtureError`
at load time, so a broken fixture never passes silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stateless_pack.policies.catalog import Rule, rule_by_name
from support.paths import FIXTURES as FIXTURE_ROOT

FIXTURES_DIR = FIXTURE_ROOT / "rules"

_EXPECT = re.compile(r"^#\s*expect:\s*(?P<resource>[A-Za-z0-9]+/[^\s/]+)\s+(?P<path>\S+)\s*$")


class FixtureError(ValueError):
    """A fixture file that does not follow the convention above."""


@dataclass(frozen=True)
class RuleFixture:
    rule: Rule
    path: Path
    documents: list          # the manifests (dicts), in file order
    expected: frozenset      # {("Kind/name", "field.path"), ...}; empty for pass files
    is_near_miss: bool

    @property
    def must_fail(self) -> bool:
        return self.path.name.startswith("fail-")

    @property
    def id(self) -> str:
        return f"{self.rule.name}/{self.path.stem}"


def resource_id(manifest: Any) -> str:
    """`Kind/name` of a manifest, the resource form used in `# expect:` lines."""
    meta = manifest.get("metadata") if isinstance(manifest, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = manifest.get("kind") if isinstance(manifest, dict) else None
    return f"{kind}/{name}"


def _expected(path: Path, text: str) -> frozenset:
    """The `# expect:` lines of the leading comment block."""
    found = set()
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break  # the leading comment block ends at the first YAML line
        if re.match(r"^#\s*expect\b", stripped):
            match = _EXPECT.match(stripped)
            if not match:
                raise FixtureError(f"{path}: malformed expect line {stripped!r} "
                                   "(want '# expect: <Kind>/<name> <field path>')")
            found.add((match["resource"], match["path"]))
    return frozenset(found)


def load_fixture(path: Path) -> RuleFixture:
    path = Path(path)
    if not path.name.startswith(("fail-", "pass-")):
        raise FixtureError(f"{path}: fixture names start with 'fail-' or 'pass-'")
    try:
        rule = rule_by_name(path.parent.name)
    except KeyError:
        raise FixtureError(f"{path}: folder {path.parent.name!r} names no rule in the catalog") from None
    text = path.read_text(encoding="utf-8")
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise FixtureError(f"{path}: invalid YAML: {exc}") from exc
    if not documents or not all(isinstance(doc, dict) for doc in documents):
        raise FixtureError(f"{path}: every document must be a manifest (a mapping)")
    expected = _expected(path, text)
    if path.name.startswith("fail-") and not expected:
        raise FixtureError(f"{path}: a fail fixture needs at least one '# expect:' line")
    if path.name.startswith("pass-") and expected:
        raise FixtureError(f"{path}: a pass fixture must not have '# expect:' lines")
    known = {resource_id(doc) for doc in documents}
    for resource, _ in expected:
        if resource not in known:
            raise FixtureError(f"{path}: expected resource {resource} is not in the file ({sorted(known)})")
    return RuleFixture(rule=rule, path=path, documents=documents, expected=expected,
                       is_near_miss="near-miss" in path.name)


def load_fixtures(root: Path = FIXTURES_DIR) -> list[RuleFixture]:
    """Every fixture under `root`, sorted by rule folder then file name."""
    return [load_fixture(p) for p in sorted(Path(root).glob("*/*.yaml"))]


def fixture_id(fixture: RuleFixture) -> str:
    """pytest id: `<rule-name>/<file stem>` (use as `ids=fixture_id`)."""
    return fixture.id if isinstance(fixture, RuleFixture) else str(fixture)


def violations_of(fixture: RuleFixture, config: dict | None = None) -> frozenset:
    """{("Kind/name", path)} the rule reports on the fixture's documents, run straight from the catalog.

    Stack rules see all documents at once; resource rules see one document at a time.
    """
    rule = fixture.rule
    if rule.stack:
        pairs = rule.run(fixture.documents, config)
        return frozenset((resource_id(fixture.documents[i]), v.path) for i, v in pairs)
    return frozenset((resource_id(doc), v.path) for doc in fixture.documents for v in rule.run(doc, config))
