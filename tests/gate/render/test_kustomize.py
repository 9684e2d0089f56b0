"""gate/render/kustomize.py with the real kubectl: the build as kubectl prints it, each resource in
the file that holds it, and kubectl's own message when a folder does not build."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stateless_pack.gate.render import kustomize, tools
from support.paths import FIXTURES

KUSTOMIZE = FIXTURES / "kustomize"


def kubectl() -> Path:
    return tools.find(tools.KUBECTL)


def test_build_is_kubectls_output():
    resources = list(yaml.safe_load_all(kustomize.build(KUSTOMIZE / "overlays" / "sticky", kubectl=kubectl())))
    assert [(r["kind"], r["metadata"]["namespace"], r["metadata"]["name"]) for r in resources] == [
        ("Service", "shop", "web"), ("Deployment", "shop", "web"), ("PodDisruptionBudget", "shop", "web"),
        ("NetworkPolicy", "shop", "web")]
    service = resources[0]
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert "annotations" not in service["metadata"]


def test_each_resource_names_its_file_and_a_changed_field_its_nearest_unchanged_parent():
    built = kustomize.located(KUSTOMIZE / "overlays" / "sticky", kubectl=kubectl())
    base = KUSTOMIZE / "base"
    assert [(r.manifest["kind"], r.file, r.file_line) for r in built.resources] == [
        ("Service", str(base / "service.yaml"), 1), ("Deployment", str(base / "deployment.yaml"), 1),
        ("PodDisruptionBudget", str(base / "poddisruptionbudget.yaml"), 1),
        ("NetworkPolicy", str(base / "networkpolicy.yaml"), 1)]
    service = built.resources[0]
    assert "annotations" not in service.manifest["metadata"]  # the origin annotation is gone again
    assert service.file_lines.line_of("spec.type") == 8          # as in base/service.yaml
    assert service.file_lines.line_of("spec.sessionAffinity") == 1  # the patch changed it, and spec with it
    assert built.problems == []


def test_a_relative_folder_shows_relative_files(monkeypatch):
    monkeypatch.chdir(KUSTOMIZE)
    built = kustomize.located(Path("overlays/clean"), kubectl=kubectl())
    assert {r.file for r in built.resources} == {"base/service.yaml", "base/deployment.yaml",
                                                 "base/poddisruptionbudget.yaml", "base/networkpolicy.yaml"}


def test_a_generated_resource_points_at_the_kustomization_that_generates_it(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "configMapGenerator:\n  - name: settings\n    literals: [MODE=stateless]\n")
    [generated] = kustomize.located(tmp_path, kubectl=kubectl()).resources
    assert (generated.manifest["kind"], generated.file, generated.file_line) == (
        "ConfigMap", str(tmp_path / "kustomization.yaml"), 0)


def test_a_folder_that_does_not_build_is_kubectls_message(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(kustomize.KustomizeError) as raised:
        kustomize.located(tmp_path, kubectl=kubectl())
    message = str(raised.value)
    assert message.startswith(f"cannot build {tmp_path}: accumulating resources: ")
    assert "missing.yaml" in message and "command failed" not in message


def test_a_missing_kubectl_is_an_error(tmp_path):
    with pytest.raises(kustomize.KustomizeError, match="cannot run /nonexistent/kubectl"):
        kustomize.build(tmp_path, kubectl=Path("/nonexistent/kubectl"))


SERVICE = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  type: ClusterIP\n"
           "  sessionAffinity: None\n  selector: {app: web}\n  ports: [{port: 80}]\n")


def overlay(tmp_path: Path, kustomization: str, files: dict | None = None) -> kustomize.BuiltResource:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "service.yaml").write_text(SERVICE)
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [service.yaml]\n")
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text("resources: [../base]\n" + kustomization)
    for name, text in (files or {}).items():
        (tmp_path / "overlay" / name).write_text(text)
    [resource] = kustomize.located(tmp_path / "overlay", kubectl=kubectl()).resources
    return resource


def test_an_inline_json6902_patch_is_placed_at_its_entry_in_the_kustomization(tmp_path):
    resource = overlay(tmp_path, "namePrefix: shop-\npatches:\n  - target: {kind: Service, name: web}\n"
                                 "    patch: |-\n      - op: replace\n        path: /spec/sessionAffinity\n"
                                 "        value: ClientIP\n")
    assert resource.manifest["metadata"]["name"] == "shop-web"
    patch = resource.patch_of(("spec", "sessionAffinity"))
    assert (patch.file, patch.line) == (str(tmp_path / "overlay" / "kustomization.yaml"), 5)
    assert resource.patch_of(("spec", "type")) is None


def test_a_strategic_merge_patch_file_is_placed_at_the_patched_field(tmp_path):
    resource = overlay(tmp_path, "patchesStrategicMerge: [sticky.yaml]\n",
                       {"sticky.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n"
                                       "  sessionAffinity: ClientIP\n"})
    patch = resource.patch_of(("spec", "sessionAffinity"))
    assert (patch.file, patch.line) == (str(tmp_path / "overlay" / "sticky.yaml"), 6)


def test_a_patch_chosen_by_a_label_selector_is_not_credited(tmp_path):
    resource = overlay(tmp_path, "patches:\n  - target: {kind: Service, labelSelector: app=web}\n"
                                 "    patch: |-\n      - op: replace\n        path: /spec/sessionAffinity\n"
                                 "        value: ClientIP\n")
    assert resource.manifest["spec"]["sessionAffinity"] == "ClientIP"
    assert resource.patch_of(("spec", "sessionAffinity")) is None  # not evaluated here: not guessed


def test_a_message_kubectl_logs_over_several_lines_is_kubectls_text_alone(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("patches: [{path: missing.yaml}]\nresources: []\n")
    with pytest.raises(kustomize.KustomizeError) as raised:
        kustomize.build(tmp_path, kubectl=kubectl())
    assert "command failed" not in str(raised.value) and "missing.yaml" in str(raised.value)
    assert not any(line.startswith(("E1", "E0", ">")) for line in str(raised.value).splitlines())
