"""The TypeScript twins checked by stateless-pack as a TypeScript team gets it: the built wheel in a fresh
venv, the projects in a folder outside this checkout with their npm packages installed."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from support.typescript_examples import check_clean, check_violating, copy_outside, report_of


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> Path:
    return copy_outside(tmp_path_factory.mktemp("team"))


def preview(installed: Path, project: Path) -> tuple[int, list, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("STATELESS_PACK_")}
    done = subprocess.run([str(installed / "stateless-pack"), "preview", ".", "--json", "report.json"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)
    return done.returncode, report_of(project / "report.json"), done.stdout + done.stderr


def test_the_typescript_reference_stack_passes_from_the_wheel(installed, projects):
    check_clean(*preview(installed, projects / "reference"))


def test_the_typescript_twin_is_blocked_with_the_expected_findings_from_the_wheel(installed, projects):
    check_violating(*preview(installed, projects / "violates-every-rule"))
