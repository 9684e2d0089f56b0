"""The generated docs (docs/policies.md, the module map in docs/architecture.md) must be fresh."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from stateless_pack.policies.catalog import rules
from support.paths import REPO

sys.path.insert(0, str(REPO / "docs"))
from generate import ARCHITECTURE_PATH, DOC_PATH, REPO_ROOT, architecture, module_map, render  # noqa: E402


def test_checked_in_catalog_is_fresh():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/policies.md is stale: run `python docs/generate.py`")


def test_every_rule_has_a_row_and_a_section_with_its_metadata():
    text = render()
    for r in rules():
        assert f"## {r.name}\n" in text
        section = text.split(f"## {r.name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"`{r.checkov_id}`" in section and r.description in section and r.remediation in section
        for key, schema in r.config_schema.items():
            # the whole default, as JSON (an empty list is a default too)
            assert f"`{key}`" in section and f"default `{json.dumps(schema['default'])}`" in section
        if r.stack:
            assert "not run by Checkov" in section and "Checkov," not in section
        else:
            assert "Checkov" in section


def test_render_follows_metadata_changes():
    """A changed description shows up: the doc is derived, not a copy."""
    changed = [dataclasses.replace(r, description=r.description + " CHANGED-MARKER") for r in rules()]
    assert render(changed).count("CHANGED-MARKER") == len(changed)
    assert "CHANGED-MARKER" not in render()


def test_module_command_rewrites_the_file(tmp_path):
    before = DOC_PATH.read_text(encoding="utf-8")
    result = subprocess.run([sys.executable, "docs/generate.py"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert DOC_PATH.read_text(encoding="utf-8") == before == render()


def test_module_map_is_fresh_and_lists_every_module():
    text = ARCHITECTURE_PATH.read_text(encoding="utf-8")
    assert text == architecture(text), "docs/architecture.md's module map is stale: run `python docs/generate.py`"
    for folder in ("components", "policies", "gate", "provider"):
        for path in (REPO / folder).rglob("*.py"):
            assert f"| `{path.relative_to(REPO).as_posix()}` |" in text


def test_every_module_says_what_it_is():
    assert "(no docstring)" not in module_map()
