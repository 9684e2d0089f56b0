"""gate/distribution_wheel.py: the wheel `pack new` carries is the installed distribution, rebuilt
byte for byte the same from the same files, and nothing else: a changed installed file, an editable
checkout or a wheel of another distribution or version is refused."""
from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stateless_pack.gate import distribution_wheel
from stateless_pack.gate.commands.pack import distribution_version

VERSION = distribution_version()


@pytest.fixture(scope="module")
def site(wheelhouse, tmp_path_factory) -> Path:
    """A folder the built wheel is installed into (pip --target), as a site-packages of its own."""
    [wheel] = wheelhouse.glob("stateless_pack-*.whl")
    folder = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(folder), str(wheel)], check=True, capture_output=True, timeout=300)
    return folder


def rebuild_from(site: Path, out: Path) -> subprocess.CompletedProcess:
    """`rebuild(out)` run by the distribution installed in `site` (no site-packages: not this checkout)."""
    out.mkdir(exist_ok=True)
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
            "from stateless_pack.gate import distribution_wheel as w\n"
            "try: print(w.rebuild(Path(sys.argv[2])))\n"
            "except w.WheelError as e: sys.exit(f'refused: {e}')")
    return subprocess.run([sys.executable, "-S", "-c", code, str(site), str(out)], capture_output=True, text=True,
                          timeout=120)


def members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def record_rows(data: bytes) -> set[tuple]:
    return {tuple(row) for row in csv.reader(io.StringIO(data.decode())) if not row[0].endswith("/RECORD")}


def test_the_rebuilt_wheel_holds_exactly_what_the_built_wheel_holds(site, wheelhouse, tmp_path):
    done = rebuild_from(site, tmp_path / "a")
    assert done.returncode == 0, done.stderr
    rebuilt = Path(done.stdout.strip())
    assert rebuilt.name == f"stateless_pack-{VERSION}-py3-none-any.whl"
    [original] = wheelhouse.glob("stateless_pack-*.whl")
    got, want = members(rebuilt), members(original)
    record = f"stateless_pack-{VERSION}.dist-info/RECORD"
    assert set(got) == set(want)
    assert {n for n in got if n != record and got[n] != want[n]} == set()
    assert record_rows(got[record]) == record_rows(want[record])  # the same files, the same hashes
    assert zipfile.ZipFile(rebuilt).testzip() is None


def test_rebuilding_from_the_same_files_gives_the_same_bytes(site, tmp_path):
    first, second = rebuild_from(site, tmp_path / "a"), rebuild_from(site, tmp_path / "b")
    digests = {hashlib.sha256(Path(run.stdout.strip()).read_bytes()).hexdigest() for run in (first, second)}
    assert len(digests) == 1


def test_an_installed_file_changed_since_installation_is_refused(site, tmp_path):
    changed = tmp_path / "site"
    shutil.copytree(site, changed)
    rule = changed / "stateless_pack" / "policies" / "rules" / "no_host_path.py"
    rule.write_text(rule.read_text() + "\nRULE = None  # switched off on this machine\n")
    done = rebuild_from(changed, tmp_path / "out")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        f"refused: cannot rebuild the wheel: {rule} is not the file stateless-pack installed (it differs from the "
        f"distribution's RECORD); reinstall stateless-pack, or " + distribution_wheel._REMEDY)
    assert list((tmp_path / "out").iterdir()) == []  # no partial wheel left


def test_an_editable_checkout_is_refused_with_the_remedy(tmp_path):
    """This checkout's venv installs the project editable (`make setup`): there are no installed
    files to rebuild a wheel from."""
    with pytest.raises(distribution_wheel.WheelError, match=r"installed in development mode.*--wheel PATH"):
        distribution_wheel.rebuild(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_given_wheel_must_be_this_distribution_at_this_version(wheelhouse, tmp_path):
    [wheel] = wheelhouse.glob("stateless_pack-*.whl")
    assert distribution_wheel.given(wheel, VERSION) == wheel
    renamed = tmp_path / "policies.whl"
    shutil.copyfile(wheel, renamed)
    with pytest.raises(distribution_wheel.WheelError, match="not a wheel of stateless-pack .* by its name"):
        distribution_wheel.given(renamed, VERSION)
    other = tmp_path / "stateless_pack-9.9.9-py3-none-any.whl"
    shutil.copyfile(wheel, other)
    with pytest.raises(distribution_wheel.WheelError, match=r"not a wheel of stateless-pack 9\.9\.9 \("):
        distribution_wheel.given(other, "9.9.9")
    fake = tmp_path / f"stateless_pack-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr(f"stateless_pack-{VERSION}.dist-info/METADATA", f"Name: stateless-pak\nVersion: {VERSION}\n")
    with pytest.raises(distribution_wheel.WheelError, match=f"holds stateless-pak {VERSION}, not stateless-pack"):
        distribution_wheel.given(fake, VERSION)
