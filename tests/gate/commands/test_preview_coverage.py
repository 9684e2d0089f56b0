"""`stateless-pack preview` never passes what it did not check: yaml/v2 components expanded as the
provider would, List items, Patches as partial manifests (charts and kustomizations: test_preview_charts.py);
a remote component it cannot expand and a program with no Kubernetes object do not pass."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stateless_pack.gate.cli import main
from support.paths import FIXTURES
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.programs import pulumi_program

EXPANDED = FIXTURES / "gate" / "expanded"
OURS = {"no-sticky-service", "no-persistent-volume-claims", "readiness-probe", "read-only-root-filesystem",
        "min-replicas", "pdb-coverage", "no-host-path"}



@pytest.fixture(scope="module")
def expanded_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("expanded")
    registry = folder / "waivers.yaml"
    registry.write_text("version: 1\nwaivers: []\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("STATELESS_PACK_WAIVERS", str(registry))
    try:
        code = main(["preview", str(EXPANDED), "--out", str(folder / "m"), "--json", str(folder / "r.json")])
    finally:
        mp.undo()
    return code, json.loads((folder / "r.json").read_text()), folder


def test_violations_inside_components_lists_and_patches_block(expanded_run):
    code, report, _ = expanded_run
    assert code == 1
    got = sorted((f["rule"], f["engine"], f["resource"]) for f in report["findings"] if f["rule"] in OURS)
    assert got == [
        ("no-persistent-volume-claims", "checkov", "PersistentVolumeClaim/shop/data"),
        ("no-persistent-volume-claims", "crossguard", "PersistentVolumeClaim/shop/data"),
        ("no-sticky-service", "checkov", "Service/shop/sticky-list"),
        ("no-sticky-service", "checkov", "Service/shop/sticky-yaml"),
        ("no-sticky-service", "crossguard", "Service/shop/sticky-list"),
        ("no-sticky-service", "crossguard", "Service/shop/sticky-yaml"),
        # a Patch is not handed to Checkov (it would call every missing field a failure)
        ("no-sticky-service", "crossguard", "Service/shop/web-patched"),
    ]


def test_children_carry_the_providers_names_and_a_patch_is_not_blamed_for_what_it_leaves_out(expanded_run):
    _, report, folder = expanded_run
    by_resource = {}
    for f in report["findings"]:
        by_resource.setdefault(f["resource"], []).append(f)
    sticky = next(f for f in by_resource["Service/shop/sticky-yaml"] if f["engine"] == "crossguard")
    assert sticky["urn"] == ("urn:pulumi:dev::expanded::kubernetes:yaml/v2:ConfigGroup$"
                             "kubernetes:core/v1:Service::edge:shop/sticky-yaml")
    claim = next(f for f in by_resource["PersistentVolumeClaim/shop/data"] if f["engine"] == "crossguard")
    assert claim["urn"].endswith("::claims:shop/data")  # the provider's namespace was applied
    assert "Deployment/shop/web" not in by_resource  # the image bump: no probe/securityContext findings
    patched = by_resource["Service/shop/web-patched"][0]
    assert patched["file"] == str(folder / "m" / "patches" / "service_shop_web-patched.yaml")
    assert Path(patched["file"]).read_text().count("sessionAffinity: ClientIP") == 1
    assert sorted(p.name for p in (folder / "m").glob("*.yaml")) == [
        "persistentvolumeclaim_shop_data.yaml", "service_shop_sticky-list.yaml", "service_shop_sticky-yaml.yaml"]


def _program(tmp_path: Path, body: str) -> Path:
    return pulumi_program(tmp_path / "app", body, name="charts")


def test_a_remote_component_the_gate_cannot_expand_is_not_checked_so_not_passed(capsys, tmp_path):
    app = _program(tmp_path, """\
        import pulumi
        class Controller(pulumi.ComponentResource):  # e.g. an ingress controller's component package
            def __init__(self, name):
                super().__init__("ingress-nginx:index:Controller", name, {"replicas": 1}, None, remote=True)
        Controller("edge")
        """)
    code = main(["preview", str(app), "--out", str(tmp_path / "m")])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert "not checked, so not passed" in captured.err
    assert "ingress-nginx:index:Controller 'edge'" in captured.err and "a remote component" in captured.err
    assert "stateless-pack scan" in captured.err and "pulumi preview --policy-pack" in captured.err
    assert "PASSED" not in captured.out and not (tmp_path / "m").exists()


@pytest.mark.parametrize("body", [
    "import pulumi\n",  # registers nothing but the stack
    'import pulumi\npulumi.ComponentResource("acme:index:Empty", "e")\npulumi.export("x", 1)\n',
])
def test_a_program_with_no_kubernetes_object_blocks_unless_allowed(capsys, tmp_path, body):
    app = _program(tmp_path, body)
    code = main(["preview", str(app), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert [(f["rule"], f["engine"], f["level"], f["resource"], f["message"]) for f in findings] == [
        ("no-kubernetes-resources", "gate", "mandatory", "stack dev of charts",
         "the program registered no Kubernetes object: nothing was checked")]
    assert "no-kubernetes-resources" in captured.out
    assert "PASSED" not in captured.out and "BLOCKED: 1 blocking" in captured.out
    code = main(["preview", str(app), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json"),
                 "--allow-empty"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    [advisory] = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert (advisory["rule"], advisory["level"], advisory["blocking"]) == ("no-kubernetes-resources", "advisory", False)
    assert "PASSED: 0 blocking, 1 advisory" in captured.out
