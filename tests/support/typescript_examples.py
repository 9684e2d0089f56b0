"""The TypeScript twins in examples/typescript and what the gate must say about them, checked the same
way from this checkout and from the installed wheel."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from stateless_pack.policies.catalog import rules
from support.paths import REPO

TYPESCRIPT = REPO / "examples" / "typescript"
REFERENCE = TYPESCRIPT / "reference"
VIOLATING = TYPESCRIPT / "violates-every-rule"
EXPECTED = REPO / "examples" / "violates-every-rule" / "expected_findings.yaml"
TWINS = ("reference", "violates-every-rule")


def copy_outside(folder: Path) -> Path:
    """The two projects copied into `folder`, their packages (installed by `make node-packages`) linked,
    as a team's checkout with `npm ci` done would have them."""
    target = folder / "typescript"
    for name in TWINS:
        shutil.copytree(TYPESCRIPT / name, target / name)
    shutil.copy(TYPESCRIPT / "package.json", target / "package.json")
    (target / "node_modules").symlink_to(TYPESCRIPT / "node_modules", target_is_directory=True)
    return target


def report_of(path: Path) -> list[dict]:
    return json.loads(path.read_text())["findings"] if path.exists() else []


def check_clean(code: int, findings: list[dict], output: str) -> None:
    assert code == 0, output
    assert findings == [], output
    assert "0 waived finding(s)" in output, output


def check_violating(code: int, findings: list[dict], output: str) -> None:
    """Blocked, with every rule of the catalog firing exactly where expected_findings.yaml says, by the
    pack and (except the stack rules, which Checkov cannot express) by Checkov; nothing else of ours."""
    assert code == 1, output
    expected = {(e["rule"], e["resource"]) for e in yaml.safe_load(EXPECTED.read_text())}
    ours = {rule.name: rule for rule in rules()}
    assert {rule for rule, _ in expected} == set(ours), "the example must break every rule of the catalog"
    for engine in ("crossguard", "checkov"):
        found = {(f["rule"], f["resource"]) for f in findings if engine in f["engines"] and f["rule"] in ours}
        want = {(rule, res) for rule, res in expected if engine == "crossguard" or not ours[rule].stack}
        assert found == want, f"{engine}: {output}"
    assert all(f["blocking"] for f in findings if f["rule"] in ours)
