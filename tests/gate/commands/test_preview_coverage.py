"""`stateless-pack preview` never passes what it did not check: yaml/v2 components expanded as the
provider would, List items, Patches as partial manifests (charts and kustomizations: test_preview_charts.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stateless_pack.gate.cli import main
from support.paths import FIXTURES
from support.isolation import isolated  # noqa: F401 - an autouse fixture

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
