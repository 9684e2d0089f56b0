"""stateless-pack as a platform team gets it: the built wheel in a fresh venv, used from a Pulumi
project in a temporary folder that is not this repository and has its own `components/` package and
its own `waivers.yaml`; and a policy pack made with `pack new`, loaded from a venv built from its own
requirements.txt alone with no index for stateless-pack (the wheel it carries), in a folder named like
the Pulumi CLI's install path."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from stateless_pack.gate.commands.pack import distribution_version
from stateless_pack.gate.commands.preview import engine_resources
from stateless_pack.gate.pack.engine import launch_pack
from stateless_pack.gate.program.runner import run_program
from stateless_pack.policies.waivers.model import utc_today
from support.paths import PROVIDER_DIR, REPO
from support.provider_harness import RecordingMonitor, launch_provider, serve_monitor

TODAY = utc_today()
DIGEST = "sha256:" + "ab" * 32
PROGRAM = f'''\
"""A team's stack: its own `components` package next to the paved road's."""
import pulumi

from components import team_labels  # the project's own package, not stateless-pack's
from stateless_pack.components import Application, ApplicationArgs

config = pulumi.Config()
Application("web", ApplicationArgs(
    namespace=config.require("namespace"),
    image="registry.example.org/shop/web:1.0.0@{DIGEST}",
    replicas=1, single_replica_waiver="W-0001",  # a deliberate exception, waived in waivers.yaml
    labels=team_labels()))
'''


def registry(created: int = -1, expires: int = 30) -> dict:
    return {"version": 1, "waivers": [{
        "id": "W-0001", "rules": ["min-replicas"],
        "scope": {"stack": "dev", "kind": "Deployment", "namespace": "shop", "name": "web"},
        "reason": "One instance while the team moves its cache out of process.",
        "approved_by": "max.mustermann@example.org", "approver_role": "platform-lead", "reference": "SHOP-7",
        "created": str(TODAY + timedelta(days=created)), "expires": str(TODAY + timedelta(days=expires))}]}


def make_project(folder: Path, waivers: dict | str) -> Path:
    (folder / "components").mkdir(parents=True)
    (folder / "components" / "__init__.py").write_text('def team_labels():\n    return {"team": "shop"}\n')
    (folder / "Pulumi.yaml").write_text("name: shop\nruntime:\n  name: python\n")
    (folder / "Pulumi.dev.yaml").write_text("config:\n  shop:namespace: shop\n")
    (folder / "__main__.py").write_text(PROGRAM)
    text = waivers if isinstance(waivers, str) else yaml.safe_dump(waivers, sort_keys=False)
    (folder / "waivers.yaml").write_text(text)
    return folder


def user_env(installed: Path | None = None) -> dict:
    """The user's environment: nothing of this checkout on the path, no registry preset; with
    `installed`, that venv activated (its python3 runs a program whose Pulumi.yaml names no virtualenv)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STATELESS_PACK_WAIVERS", "VIRTUAL_ENV")}
    if installed is not None:
        env["PATH"] = os.pathsep.join((str(installed), env.get("PATH", "")))
    return env


def stateless_pack(installed: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed / "stateless-pack"), *map(str, args)], cwd=cwd, env=user_env(installed),
                          capture_output=True, text=True, timeout=600)


def findings(path: Path) -> list:
    return json.loads(path.read_text())["findings"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("user") / "shop-infra", registry())


@pytest.fixture(scope="module")
def passed_preview(installed, project):
    done = stateless_pack(installed, "preview", ".", "--json", "report.json", "--sarif", "report.sarif", cwd=project)
    return done, findings(project / "report.json")


# ---- the wheel carries what it needs ----------------------------------------------------------------

def test_the_wheel_holds_every_module_and_data_file_under_the_distributions_name(wheelhouse):
    [wheel] = wheelhouse.glob("stateless_pack-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("components", "policies", "gate", "provider"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix == ".py" or path.name in ("PulumiPolicy.yaml", "approvers.yaml", "schema.json",
                                                     "checkov_builtin_checks.json", "checkov-requirements.txt",
                                                     "node_host.js"):
                assert f"stateless_pack/{path.relative_to(REPO).as_posix()}" in names, path
    assert not any(n.startswith(("components/", "policies/", "gate/", "provider/")) for n in names)  # no generic names


def test_installed_command_runs_from_outside_the_checkout(installed, tmp_path):
    version = stateless_pack(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("stateless-pack ")
    where = subprocess.run([str(installed / "python"), "-c", "import stateless_pack.policies as p; print(p.__file__)"],
                           cwd=tmp_path, env=user_env(), capture_output=True, text=True)
    assert str(installed.parent) in where.stdout and str(REPO) not in where.stdout


# ---- preview in the user's project --------------------------------------------------------------------

def test_preview_passes_with_the_stacks_own_waiver(passed_preview, project):
    done, found = passed_preview
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(f["rule"], f["waiver"], f["blocking"]) for f in found] == [("min-replicas", "W-0001", False)]
    assert "PASSED: 0 blocking, 0 advisory, 1 waived" in done.stdout
    assert (project / "out" / "manifests").is_dir()  # the manifests land in the user's project


def test_sarif_points_at_the_line_of_the_users_program_not_at_the_installed_component(passed_preview, project):
    """The Deployment is created inside the installed `Application`: the finding lands on the
    program's `Application(...)` line, relative to the project (no repository around it)."""
    done, _ = passed_preview
    run = json.loads((project / "report.sarif").read_text())["runs"][0]
    [result] = run["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "__main__.py", "uriBaseId": "%SRCROOT%"}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"
    assert PROGRAM.splitlines()[location["region"]["startLine"] - 1].startswith('Application("web"')
    assert result["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("out/manifests/")
    assert f"Deployment/shop/web  (__main__.py:{location['region']['startLine']}; rendered out/manifests/" in done.stdout


def test_an_output_path_that_cannot_be_written_fails_before_anything_runs(installed, project):
    done = stateless_pack(installed, "preview", ".", "--json", "/nonexistent/dir/x.json", cwd=project)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("stateless-pack preview: error: --json /nonexistent/dir/x.json: the folder "
                           "/nonexistent/dir does not exist (create it first)\n")
    assert not Path("/nonexistent").exists()


@pytest.mark.parametrize("waivers,blocking", [
    ("version: 2\nwaivers: []\n", {"waiver-registry", "min-replicas", "unbacked-suppression"}),
    (registry(created=-40, expires=-1), {"expired-waiver", "min-replicas", "unbacked-suppression"}),
], ids=["broken-registry", "expired-waiver"])
def test_preview_blocks_when_the_stacks_registry_is_broken_or_its_waiver_expired(installed, tmp_path, waivers,
                                                                                  blocking):
    project = make_project(tmp_path / "shop-infra", waivers)
    done = stateless_pack(installed, "preview", ".", "--json", "report.json", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert {f["rule"] for f in findings(project / "report.json") if f["blocking"]} == blocking


def test_a_registry_in_another_project_never_applies(installed, tmp_path):
    project = make_project(tmp_path / "team-b", {"version": 1, "waivers": []})
    done = stateless_pack(installed, "preview", ".", "--json", "report.json", cwd=project)
    assert done.returncode == 1
    blocking = {(f["rule"], f["waiver"]) for f in findings(project / "report.json") if f["blocking"]}
    assert blocking == {("min-replicas", ""), ("unbacked-suppression", "")}  # its markers name W-0001 too


# ---- scan and waivers validate read the same registry ------------------------------------------------------

def test_waivers_validate_reads_the_projects_registry(installed, project, tmp_path):
    ok = stateless_pack(installed, "waivers", "validate", project, cwd=tmp_path)
    assert ok.returncode == 0 and str(project / "waivers.yaml") in ok.stdout
    listed = stateless_pack(installed, "waivers", "list", "--json", cwd=project)
    assert [w["id"] for w in json.loads(listed.stdout)] == ["W-0001"]
    broken = make_project(tmp_path / "broken", "version: 2\nwaivers: []\n")
    bad = stateless_pack(installed, "waivers", "validate", broken, cwd=tmp_path)
    assert bad.returncode == 1 and "version: must be 1" in bad.stdout


def test_scan_of_the_rendered_manifests_decides_like_preview(installed, project, passed_preview):
    done = stateless_pack(installed, "scan", "out/manifests", "--stack", "dev", "--waivers", "waivers.yaml",
                          "--format", "json", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    scanned = json.loads(done.stdout)["findings"]
    _, previewed = passed_preview
    assert {(f["rule"], f["resource"], f["waiver"]) for f in scanned} == {
        (f["rule"], f["resource"], f["waiver"]) for f in previewed}


def test_checkov_is_found_where_checkov_install_provisioned_it(installed, tmp_path):
    done = stateless_pack(installed, "checkov", "path", cwd=tmp_path)
    assert done.returncode == 0 and "/stateless-pack/checkov-" in done.stdout


# ---- a standalone pack, as the Pulumi CLI installs a published one ----------------------------------------

def offline_env() -> dict:
    """The user's environment with no index at all: pip reads no configuration (no index, extra
    index or find-links of this machine's)."""
    env = {k: v for k, v in user_env().items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture(scope="module")
def standalone_pack(installed, tmp_path_factory) -> tuple[Path, Path]:
    """(pack folder, its venv's python): `pack new`, then a venv built in the pack folder from its
    requirements.txt alone, as the Pulumi CLI builds it (`python -m pip install -r requirements.txt`
    run in the folder), with no index: stateless-pack comes from the wheel the folder carries, its
    dependencies from a local wheelhouse (`--no-index --find-links`) that holds no stateless-pack."""
    home = tmp_path_factory.mktemp("home")
    pack = home / ".pulumi" / "policies" / "myorg" / "stateless-pack" / "v1"  # not named `policies`
    done = stateless_pack(installed, "pack", "new", pack, cwd=home)
    assert done.returncode == 0, done.stderr
    [wheel] = pack.glob("stateless_pack-*.whl")
    assert sorted(p.name for p in pack.iterdir()) == ["PulumiPolicy.yaml", "__main__.py", "approvers.yaml",
                                                      "requirements.txt", wheel.name]
    python = pack / "venv" / "bin" / "python"
    subprocess.run([os.environ.get("PYTHON", "python3"), "-m", "venv", str(pack / "venv")], check=True)
    dependencies = tmp_path_factory.mktemp("dependencies")  # fetched once, like a CI cache of wheels
    fetched = subprocess.run([str(python), "-m", "pip", "download", "-q", "-d", str(dependencies), str(wheel)],
                             env=user_env(), capture_output=True, text=True, timeout=1200)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    for own in dependencies.glob("stateless_pack-*"):
        own.unlink()
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--find-links", str(dependencies),
                              "-r", "requirements.txt"], cwd=pack, env=offline_env(), capture_output=True, text=True,
                             timeout=1200)
    assert install.returncode == 0, install.stdout + install.stderr
    assert f"Processing ./{wheel.name}" in install.stdout
    return pack, python


def test_the_pack_folders_venv_has_stateless_pack_from_the_wheel_it_carries(standalone_pack):
    pack, python = standalone_pack
    origin = subprocess.run([str(python), "-c", "import importlib.metadata as m, json; "
                             "print(json.loads(m.distribution('stateless-pack').read_text('direct_url.json'))['url'])"],
                            cwd="/", env=offline_env(), capture_output=True, text=True, check=True)
    [wheel] = pack.glob("stateless_pack-*.whl")
    assert origin.stdout.strip() == wheel.as_uri()


def test_the_pack_answers_get_analyzer_info_from_its_own_venv(standalone_pack):
    pack, python = standalone_pack
    with launch_pack(pack, project="shop", stack="dev", python=str(python), drop_env=("STATELESS_PACK_WAIVERS",)) \
            as running:
        info = running.client.get_analyzer_info()
    assert (info.name, info.version) == ("stateless-pack", distribution_version())
    assert {"min-replicas", "no-sticky-service", "waiver-registry"} <= {p.name for p in info.policies}


def test_pack_new_force_keeps_the_teams_approvers(installed, tmp_path):
    pack = tmp_path / "policy-pack"
    assert stateless_pack(installed, "pack", "new", pack, cwd=tmp_path).returncode == 0
    team = "roles:\n  head-of-devops: [hod@team.example]\nsigners: []\nmax_waiver_days: 90\n"
    (pack / "approvers.yaml").write_text(team)
    again = stateless_pack(installed, "pack", "new", pack, "--force", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (pack / "approvers.yaml").read_text() == team
    reset = stateless_pack(installed, "pack", "new", pack, "--force", "--reset-approvers", cwd=tmp_path)
    assert reset.returncode == 0 and (pack / "approvers.yaml").read_text() != team


def test_pack_new_answers_the_analyzer_protocol_like_the_gate(standalone_pack, project, passed_preview):
    pack, python = standalone_pack
    run = run_program(project, stack="dev")
    registry_env = {"STATELESS_PACK_WAIVERS": str(project / "waivers.yaml")}  # as the README tells pipelines
    with launch_pack(pack, project="shop", stack="dev", dry_run=False, python=str(python),
                     config=run.config, env=registry_env) as running:
        assert running.process.args[0] == str(python)
        running.client.configure()
        resources = engine_resources(run)
        diagnostics = [d for ds in running.client.analyze_many(resources) for d in ds]
        diagnostics += running.client.analyze_stack(resources)
    _, previewed = passed_preview
    gate = {(f["rule"], "advisory" if f["waiver"] else f["level"]) for f in previewed if f["engine"] == "crossguard"}
    assert {(d.policy_name, d.enforcement_level) for d in diagnostics} == gate == {("min-replicas", "advisory")}
    [waived] = diagnostics
    assert "waived by W-0001" in waived.message


def test_pack_new_refuses_a_folder_that_is_not_empty(installed, tmp_path):
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "notes.txt").write_text("mine")
    done = stateless_pack(installed, "pack", "new", tmp_path / "pack", cwd=tmp_path)
    assert done.returncode == 2 and "not an empty folder" in done.stderr
    assert shutil.which("true") and (tmp_path / "pack" / "notes.txt").read_text() == "mine"


# ---- the example pipelines use only what a user's repository has -----------------------------------------

@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_example_pipelines_install_the_distribution_and_need_no_file_of_this_repository(name):
    text = (REPO / "examples" / "pipelines" / name).read_text()
    yaml.safe_load(text)  # valid YAML
    commands = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for needed in ('pip install -r requirements.txt "$STATELESS_PACK"', "stateless-pack checkov install",
                   "stateless-pack preview", "stateless-pack pack new", "--force", "STATELESS_PACK_WAIVERS"):
        assert needed in commands, needed
    for repository_only in ("make ", ".venv-checkov", "--policy-pack policies", "policyPacks: policies"):
        assert repository_only not in commands, repository_only


def test_a_project_without_any_registry_is_checked_without_waivers(installed, tmp_path):
    """No waivers.yaml at all: nothing is waived, and the pack and the gate agree on that (exit 1, not 2)."""
    project = make_project(tmp_path / "no-registry", {"version": 1, "waivers": []})
    (project / "waivers.yaml").unlink()
    done = stateless_pack(installed, "preview", ".", "--json", "report.json", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    blocking = {f["rule"] for f in findings(project / "report.json") if f["blocking"]}
    assert blocking == {"min-replicas", "unbacked-suppression"}


# ---- the component provider, from the installed wheel ------------------------------------------------------

def test_the_installed_provider_serves_the_components_from_a_plugin_folder(installed, tmp_path):
    """What a non-Python team's `pulumi package add ./paved-road` runs: the folder the installed package
    writes, started by the venv's python as the engine starts a plugin."""
    folder = tmp_path / "paved-road"
    done = subprocess.run([str(installed / "python"), "-m", "stateless_pack.provider.plugin_folder", str(folder)],
                          cwd=tmp_path, env=user_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    monitor = RecordingMonitor("shop", "dev")
    server = serve_monitor(monitor)
    try:
        with launch_provider(folder, python=str(installed / "python"), env=user_env()) as provider:
            assert provider.schema() == json.loads((PROVIDER_DIR / "schema.json").read_text())
            result = provider.construct(monitor, "stateless-pack:index:ObjectBucket", "uploads", {"namespace": "shop"})
    finally:
        server.stop(0)
    assert result.state["secretName"] == "uploads"
    assert [r.type for r in monitor.registrations] == ["stateless-pack:index:ObjectBucket",
                                                       "kubernetes:objectbucket.io/v1alpha1:ObjectBucketClaim"]
