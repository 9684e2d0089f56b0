"""`python -m stateless_pack.provider.plugin_folder DIR`: a plugin folder that stands alone, run the way
the engine runs a plugin (its venv's python on the folder), answers with the checked-in schema."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from stateless_pack.provider.host import version
from support.paths import PROVIDER_DIR
from support.provider_harness import launch_provider


def test_the_written_folder_is_a_python_plugin_that_pins_this_distribution(tmp_path):
    folder = tmp_path / "paved-road"
    done = subprocess.run([sys.executable, "-m", "stateless_pack.provider.plugin_folder", str(folder)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["PulumiPlugin.yaml", "__main__.py", "requirements.txt"]
    assert yaml.safe_load((folder / "PulumiPlugin.yaml").read_text())["runtime"] == {
        "name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert f"stateless-pack=={version()}" in (folder / "requirements.txt").read_text().splitlines()
    with launch_provider(folder) as running:  # this venv stands in for the one built from requirements.txt
        assert running.schema() == json.loads((PROVIDER_DIR / "schema.json").read_text())


def test_a_folder_that_is_not_empty_is_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = subprocess.run([sys.executable, "-m", "stateless_pack.provider.plugin_folder", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not an empty folder" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
