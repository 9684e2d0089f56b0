"""`stateless-pack pack new`: what the pack folder's requirements install stateless-pack from, and
what `--force` rewrites (the command's own files) and keeps (the team's approvers.yaml)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from stateless_pack.gate.cli import main
from stateless_pack.gate.commands.pack import distribution_version

VERSION = distribution_version()
TEAM_APPROVERS = "roles:\n  head-of-devops: [hod@team.example]\nsigners: []\nmax_waiver_days: 90\n"


def shipped(name: str) -> str:
    return resources.files("stateless_pack.policies").joinpath(name).read_text(encoding="utf-8")


@pytest.fixture
def wheel(wheelhouse) -> Path:
    [built] = wheelhouse.glob("stateless_pack-*.whl")
    return built


def pack_new(capsys, *args) -> tuple[int, str, str]:
    code = main(["pack", "new", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def requirement_lines(folder: Path) -> list[str]:
    return [line for line in (folder / "requirements.txt").read_text().splitlines() if not line.startswith("#")]


def test_the_pack_carries_the_wheel_and_its_requirements_name_it_relatively(capsys, tmp_path, wheel):
    code, out, err = pack_new(capsys, tmp_path / "pack", "--wheel", wheel)
    assert (code, err) == (0, "")
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == [
        "PulumiPolicy.yaml", "__main__.py", "approvers.yaml", "requirements.txt", wheel.name]
    assert requirement_lines(tmp_path / "pack") == [f"./{wheel.name}"]
    assert (tmp_path / "pack" / wheel.name).read_bytes() == wheel.read_bytes()
    assert out.splitlines()[-1] == str(tmp_path / "pack" / "requirements.txt")


def test_force_rewrites_the_commands_files_and_keeps_the_teams_approvers(capsys, tmp_path, wheel):
    pack = tmp_path / "pack"
    assert pack_new(capsys, pack, "--wheel", wheel)[0] == 0
    (pack / "approvers.yaml").write_text(TEAM_APPROVERS)
    (pack / "__main__.py").write_text("# edited by hand\n")
    (pack / "notes.md").write_text("the team's own file\n")
    code, out, err = pack_new(capsys, pack, "--force", "--requirement", "stateless-pack @ git+https://git.example/sp@v1")
    assert code == 0
    assert (pack / "approvers.yaml").read_text() == TEAM_APPROVERS
    assert err.splitlines() == [f"kept {pack / 'approvers.yaml'} (--reset-approvers replaces it with the shipped example)"]
    assert str(pack / "approvers.yaml") not in out.splitlines()
    assert (pack / "__main__.py").read_text() == shipped("__main__.py")
    assert requirement_lines(pack) == ["stateless-pack @ git+https://git.example/sp@v1"]
    assert not (pack / wheel.name).exists()  # requirements.txt no longer names it
    assert (pack / "notes.md").read_text() == "the team's own file\n"


def test_reset_approvers_writes_the_shipped_example_again(capsys, tmp_path, wheel):
    pack = tmp_path / "pack"
    pack_new(capsys, pack, "--wheel", wheel)
    (pack / "approvers.yaml").write_text(TEAM_APPROVERS)
    code, out, err = pack_new(capsys, pack, "--force", "--reset-approvers", "--wheel", wheel)
    assert (code, err) == (0, "")
    assert (pack / "approvers.yaml").read_text() == shipped("approvers.yaml")
    assert str(pack / "approvers.yaml") in out.splitlines()


def test_a_folder_that_is_not_empty_needs_force(capsys, tmp_path, wheel):
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "approvers.yaml").write_text(TEAM_APPROVERS)
    code, _, err = pack_new(capsys, tmp_path / "pack", "--wheel", wheel)
    assert code == 2 and "is not an empty folder (--force rewrites the files this command writes" in err
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == ["approvers.yaml"]


def test_an_old_venv_is_pointed_out_after_force(capsys, tmp_path, wheel):
    pack = tmp_path / "pack"
    pack_new(capsys, pack, "--wheel", wheel)
    (pack / "venv" / "bin").mkdir(parents=True)
    _, _, err = pack_new(capsys, pack, "--force", "--wheel", wheel)
    assert f"note: {pack / 'venv'} was built from the previous requirements.txt" in err


def test_index_url_installs_the_pinned_version_from_that_index(capsys, tmp_path):
    code, _, err = pack_new(capsys, tmp_path / "pack", "--index-url", "https://pypi.corp.example/simple")
    assert (code, err) == (0, "")
    assert requirement_lines(tmp_path / "pack") == ["--index-url https://pypi.corp.example/simple",
                                                    f"stateless-pack=={VERSION}"]
    assert not list((tmp_path / "pack").glob("*.whl"))


@pytest.mark.parametrize("url, allowed", [
    ("https://ci:s3cret@pypi.corp.example/simple", False),
    ("https://ci:${PIP_TOKEN}@pypi.corp.example/simple", True),  # pip expands it when it reads the file
    ("pypi.corp.example/simple", False),
    ("ftp://pypi.corp.example/simple", False),
])
def test_index_url_never_writes_a_password_and_must_be_an_url(capsys, tmp_path, url, allowed):
    code, _, err = pack_new(capsys, tmp_path / "pack", "--index-url", url)
    assert code == (0 if allowed else 2), err
    if not allowed:
        assert not (tmp_path / "pack").exists() and "s3cret" not in err


def test_an_editable_checkout_cannot_vendor_itself_and_says_what_to_do(capsys, tmp_path):
    code, out, err = pack_new(capsys, tmp_path / "pack")
    assert code == 2 and out == ""
    assert err.startswith("stateless-pack pack new: error: stateless-pack is installed in development mode")
    assert "--wheel PATH" in err and "--index-url URL or --requirement SPEC" in err
    assert not (tmp_path / "pack").exists()


def test_only_one_source_for_the_distribution(capsys, tmp_path, wheel):
    with pytest.raises(SystemExit) as exited:
        main(["pack", "new", str(tmp_path / "pack"), "--wheel", str(wheel), "--index-url", "https://x.example/simple"])
    assert exited.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
