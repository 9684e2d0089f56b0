"""The TypeScript twins (examples/typescript): the reference stack written with raw @pulumi/kubernetes
resources renders exactly the manifests the Python components render for `make preview`, and passes;
the twin of violates-every-rule is blocked with exactly that example's findings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stateless_pack.gate.program.runner import run_program
from stateless_pack.gate.program.values import reveal
from support.paths import REPO
from support.typescript_examples import REFERENCE, VIOLATING, check_clean, check_violating, report_of


def gate(program: Path, out: Path) -> tuple[int, list, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "stateless_pack.gate.cli", "preview", str(program),
         "--out", str(out / "manifests"), "--json", str(out / "report.json")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("STATELESS_PACK_")})
    return proc.returncode, report_of(out / "report.json"), proc.stdout + proc.stderr


def _without_nulls(value):
    """Kubernetes reads a null field as an absent one (the Python components write some)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def manifests(program: Path) -> dict:
    """(kind, namespace, name) -> the object as the gate renders it, secrets revealed."""
    found = {}
    for resource in run_program(program).resources:
        if resource.custom and resource.type.startswith("kubernetes:") and isinstance(resource.inputs.get("kind"), str):
            manifest = _without_nulls(reveal(resource.inputs))
            metadata = manifest["metadata"]
            found[(manifest["kind"], metadata.get("namespace"), metadata["name"])] = manifest
    return found


def test_the_typescript_reference_stack_renders_the_components_manifests():
    python, typescript = manifests(REPO), manifests(REFERENCE)
    assert len(python) == 19 and set(typescript) == set(python)
    for key, manifest in python.items():
        assert typescript[key] == manifest, key


def test_the_typescript_reference_stack_passes(tmp_path):
    check_clean(*gate(REFERENCE, tmp_path))


@pytest.fixture(scope="module")
def violating_twins(tmp_path_factory):
    return (gate(VIOLATING, tmp_path_factory.mktemp("ts")),
            gate(REPO / "examples" / "violates-every-rule", tmp_path_factory.mktemp("py")))


def test_the_typescript_twin_breaks_every_rule_exactly_where_expected(violating_twins):
    check_violating(*violating_twins[0])


def test_the_typescript_twin_has_exactly_the_python_examples_findings(violating_twins):
    (_, typescript, _), (_, python, output) = violating_twins
    key = lambda f: (f["rule"], f["engine"], f["resource"], f.get("path"))  # noqa: E731
    assert sorted(map(key, typescript)) == sorted(map(key, python)), output
