"""gate/render/helm_components.py: what the provider registers for Helm charts and kustomizations,
rendered by the real helm and kubectl (no program, no pack: the expansion alone)."""
from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from stateless_pack.gate.program.pulumi_wire import ASSET_SIG, SIG_KEY, UNKNOWN_VALUE
from stateless_pack.gate.program.values import is_secret_marker, secret_marker
from stateless_pack.gate.render import helm_components as hc
from stateless_pack.gate.render.yaml_components import ExpansionError
from support.chart_repository import helm_home  # noqa: F401 - a fixture
from support.paths import FIXTURES

WEBAPP = str(FIXTURES / "charts" / "webapp")
URN = "urn:pulumi:dev::p::kubernetes:helm.sh/v4:Chart::web"
WEBAPP_CHILDREN = [  # helm's order of kinds; the subchart's objects with its templates
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "web:shop/web-worker", "webapp/charts/worker/templates/workload.yaml"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "web:shop/web-web", "webapp/templates/networkpolicy.yaml"),
    ("kubernetes:policy/v1:PodDisruptionBudget", "web:shop/web-worker", "webapp/charts/worker/templates/workload.yaml"),
    ("kubernetes:policy/v1:PodDisruptionBudget", "web:shop/web-web", "webapp/templates/pdb.yaml"),
    ("kubernetes:core/v1:PersistentVolumeClaim", "web:shop/web-data", "webapp/templates/pvc.yaml"),
    ("kubernetes:core/v1:Service", "web:shop/web-web", "webapp/templates/service.yaml"),
    ("kubernetes:apps/v1:Deployment", "web:shop/web-web", "webapp/templates/deployment.yaml"),
    ("kubernetes:apps/v1:StatefulSet", "web:shop/web-worker", "webapp/charts/worker/templates/workload.yaml"),
]


@pytest.fixture
def run(helm_home):  # noqa: F811 - helm's own files in the test's folder
    return hc.Tools()


def expand(run, type_=hc.CHART_V4, name="web", inputs=None, namespace="default", urn=URN):
    return hc.expand(type_, name, urn, inputs or {}, default_namespace=namespace, run=run)


def by_kind(children) -> dict:
    return {c.inputs["kind"]: c for c in children}


def test_a_v4_chart_registers_its_objects_as_the_provider_names_them(run):
    children = expand(run, inputs={"chart": WEBAPP, "namespace": "shop"})
    assert [(c.type, c.name, c.source) for c in children] == WEBAPP_CHILDREN
    service = by_kind(children)["Service"].inputs
    assert service["metadata"]["namespace"] == "shop" and service["spec"]["sessionAffinity"] == "ClientIP"
    assert by_kind(children)["Deployment"].inputs["spec"]["replicas"] == 2


def test_release_name_prefix_and_the_providers_namespace(run):
    children = expand(run, inputs={"chart": WEBAPP, "name": "shop", "resourcePrefix": "edge"}, namespace="team-a")
    assert ("kubernetes:core/v1:Service", "edge:team-a/shop-web") in [(c.type, c.name) for c in children]


def test_values_win_over_value_files_which_merge_in_order(run, tmp_path):
    (tmp_path / "first.yaml").write_text("service: {sessionAffinity: None, port: 81}\npersistence: {enabled: false}\n")
    files = [{SIG_KEY: ASSET_SIG, "path": str(tmp_path / "first.yaml")},
             {SIG_KEY: ASSET_SIG, "text": "service: {port: 82}\nhostLogs: {enabled: false}\n"}]
    children = expand(run, inputs={"chart": WEBAPP, "valueYamlFiles": files,
                                   "values": {"worker": {"stateful": False}, "replicaCount": 3.0}})
    kinds = by_kind(children)
    assert kinds["Service"].inputs["spec"]["sessionAffinity"] == "None"  # from the first file, kept
    assert kinds["Service"].inputs["spec"]["ports"][0]["port"] == 82     # the second file wins over it
    assert kinds["Deployment"].inputs["spec"]["replicas"] == 3           # a protobuf double, rendered as 3
    assert "PersistentVolumeClaim" not in kinds and "StatefulSet" not in kinds
    assert hc.merge_values({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 3}, "d": {"e": 1}}) == \
        {"a": {"b": 3, "c": 2}, "d": {"e": 1}}


def test_a_secret_value_makes_the_strings_that_hold_it_secret(run):
    secret_repo = secret_marker("registry.internal/shop/web")
    children = expand(run, inputs={"chart": WEBAPP, "values": {"image": {"repository": secret_repo}}})
    image = by_kind(children)["Deployment"].inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert is_secret_marker(image) and image["value"].startswith("registry.internal/shop/web:")
    assert not is_secret_marker(by_kind(children)["Service"].inputs["spec"]["sessionAffinity"])


HOOKS_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: hooks\nversion: 0.1.0\n",
    "crds/widget.yaml": textwrap.dedent("""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.org}
        spec:
          group: example.org
          scope: Namespaced
          names: {kind: Widget, plural: widgets}
          versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
        """),
    "templates/job.yaml": textwrap.dedent("""\
        apiVersion: batch/v1
        kind: Job
        metadata: {name: migrate, annotations: {"helm.sh/hook": pre-install}}
        spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: m}]}}}
        """),
    "templates/test.yaml": textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: smoke, annotations: {"helm.sh/hook": test}}
        spec: {containers: [{name: t, image: t}]}
        """),
    "templates/widget.yaml": "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n",
    "templates/role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n",
}


@pytest.fixture
def hooks_chart(tmp_path) -> str:
    for relative, text in HOOKS_CHART.items():
        (tmp_path / "hooks" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "hooks" / relative).write_text(text)
    return str(tmp_path / "hooks")


def names(children) -> list:
    return sorted(c.name for c in children)


def test_a_v4_chart_keeps_crds_but_no_hooks_and_a_release_installs_its_hooks(run, hooks_chart):
    assert names(expand(run, inputs={"chart": hooks_chart}, name="c")) == [
        "c:default/w", "c:r", "c:widgets.example.org"]  # the CRD tells Normalize a Widget is namespaced


def test_without_its_crd_a_custom_kind_must_name_its_namespace(run, hooks_chart):
    with pytest.raises(ExpansionError, match="cannot tell offline whether example.org/v1 Widget 'w' is namespaced"):
        expand(run, inputs={"chart": hooks_chart, "skipCrds": True}, name="c")


def test_a_release_renders_what_it_would_install(run, hooks_chart):
    release = "urn:pulumi:dev::p::kubernetes:helm.sh/v3:Release::rel"
    installed = expand(run, hc.RELEASE, "rel", {"chart": hooks_chart, "namespace": "ops"}, urn=release)
    assert names(installed) == ["rel:ops/migrate", "rel:ops/w", "rel:r", "rel:widgets.example.org"]  # no test hook
    assert by_kind(installed)["Job"].inputs["metadata"]["namespace"] == "ops"
    no_hooks = expand(run, hc.RELEASE, "rel", {"chart": hooks_chart, "disableWebhooks": True}, urn=release)
    assert "rel:default/migrate" not in names(no_hooks)
    # no `name`: the provider's Check names the release after the resource, plus a suffix
    assert hc.release_name("rel", release) == hc.release_name("rel", release) != hc.release_name("rel", URN)
    assert hc.release_name("rel", release).startswith("rel-")


def test_the_v3_chart_invoke_is_answered_like_the_provider(run, hooks_chart):
    rendered = hc.helm_template({"path": hooks_chart, "release_name": "old", "namespace": "team",
                                 "skip_crd_rendering": True}, run)
    objects = {p.obj["metadata"]["name"]: p.obj for p in rendered}
    assert sorted(objects) == ["migrate", "r", "w"]  # hooks but no test hook, no CRD
    assert objects["migrate"]["metadata"]["namespace"] == "team"
    assert "namespace" not in objects["r"]["metadata"]  # cluster-scoped
    assert objects["w"]["metadata"]["namespace"] == "team"  # a kind it cannot tell: namespaced
    assert {p.source for p in rendered} == {"hooks/templates/job.yaml", "hooks/templates/role.yaml",
                                            "hooks/templates/widget.yaml"}
    plain = hc.helm_template({"path": hooks_chart, "release_name": "old", "include_test_hook_resources": True}, run)
    assert "namespace" not in {p.obj["metadata"]["name"]: p.obj for p in plain}["w"]["metadata"]  # no namespace given
    assert "smoke" in {p.obj["metadata"]["name"] for p in plain}


def test_the_v3_chart_refuses_a_repository_url_where_a_name_belongs(run):
    with pytest.raises(ExpansionError, match="'repo' option specifies the name of the Helm Chart repo"):
        hc.helm_template({"chart": "nginx", "repo": "https://charts.example.org", "release_name": "x"}, run)


def test_what_cannot_be_rendered_exactly_is_an_error_never_an_empty_chart(run):
    cases = [
        ({"chart": WEBAPP, "values": {"image": {"tag": UNKNOWN_VALUE}}}, "values.image.tag is unknown until deployment"),
        ({"chart": WEBAPP, "postRenderer": {"command": "kustomize"}}, "cannot run a post-renderer"),
        ({"chart": WEBAPP, "valueYamlFiles": [{SIG_KEY: ASSET_SIG, "uri": "https://example.org/v.yaml"}]},
         "cannot be fetched offline"),
        ({"chart": str(FIXTURES / "charts" / "broken")}, r"nil pointer evaluating interface \{\}\.port"),
        ({"chart": str(FIXTURES / "charts" / "no-such-chart")}, "no-such-chart"),
    ]
    for inputs, message in cases:
        with pytest.raises(ExpansionError, match=message) as failed:
            expand(run, inputs=inputs)
        assert str(failed.value).startswith("kubernetes:helm.sh/v4:Chart 'web': ")


def test_a_missing_helm_names_the_command_that_installs_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("STATELESS_PACK_HELM", raising=False)
    with pytest.raises(ExpansionError, match="helm is not installed.*`stateless-pack tools install`"):
        expand(hc.Tools(), inputs={"chart": WEBAPP})


KUSTOMIZE = FIXTURES / "kustomize"


def test_kustomize_v2_and_the_v1_invoke(run):
    children = expand(run, hc.DIRECTORY_V2, "overlay", {"directory": str(KUSTOMIZE / "overlays" / "sticky")})
    service = next(c for c in children if c.inputs["kind"] == "Service")
    assert (service.type, service.name) == ("kubernetes:core/v1:Service", "overlay:shop/web")
    assert service.inputs["spec"]["sessionAffinity"] == "ClientIP"
    objects = hc.kustomize_directory(str(KUSTOMIZE / "overlays" / "sticky"), run)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        (c.inputs["kind"], c.inputs["metadata"]["name"]) for c in children)
    with pytest.raises(ExpansionError, match=r"kustomize/v2:Directory 'overlay': kustomize: .*missing"):
        expand(run, hc.DIRECTORY_V2, "overlay", {"directory": str(KUSTOMIZE / "missing")})


def test_the_origin_names_the_component_chart_and_template():
    assert hc.origin(URN, "./webapp", "webapp/templates/service.yaml") == {
        "component": URN, "source": "./webapp", "template": "webapp/templates/service.yaml"}
    assert hc.origin(URN, gate_only=True) == {"component": URN, "gate_only": True}
    assert hc.source_of({"chart": secret_marker("oci://x")}) == ""  # a secret is never shown


def test_a_values_file_given_as_a_secret_makes_its_values_secret(run):
    text = "image: {repository: registry.internal/team/web}\n"
    files = [secret_marker({SIG_KEY: ASSET_SIG, "text": text})]
    image = by_kind(expand(run, inputs={"chart": WEBAPP, "valueYamlFiles": files}))["Deployment"].inputs[
        "spec"]["template"]["spec"]["containers"][0]["image"]
    assert is_secret_marker(image) and image["value"].startswith("registry.internal/team/web:")
    with pytest.raises(ExpansionError, match=r"valueYamlFiles\[0\]: not an asset"):
        expand(run, inputs={"chart": WEBAPP, "valueYamlFiles": ["values.yaml"]})


def test_a_packaged_chart_renders_like_its_folder(run, tmp_path):
    subprocess.run([str(run.path("helm")), "package", WEBAPP, "--destination", str(tmp_path)], check=True,
                   capture_output=True)
    packaged = expand(run, inputs={"chart": str(tmp_path / "webapp-1.2.0.tgz"), "namespace": "shop"})
    assert [(c.type, c.name, c.source) for c in packaged] == WEBAPP_CHILDREN


def test_dependencies_missing_from_charts_fail_unless_dependency_update_fetches_them(run, tmp_path):
    outer = tmp_path / "outer"
    (outer / "templates").mkdir(parents=True)
    (outer / "Chart.yaml").write_text(
        "apiVersion: v2\nname: outer\nversion: 0.1.0\ndependencies:\n"
        f"  - {{name: worker, version: 0.3.0, repository: 'file://{WEBAPP}/charts/worker'}}\n")
    (outer / "values.yaml").write_text("worker: {stateful: true}\n")
    (outer / "templates" / "_helpers.tpl").write_text((Path(WEBAPP) / "templates" / "_helpers.tpl").read_text())
    with pytest.raises(ExpansionError, match="found in Chart.yaml, but missing in charts/ directory: worker"):
        expand(run, inputs={"chart": str(outer)}, name="o")
    children = expand(run, inputs={"chart": str(outer), "dependencyUpdate": True}, name="o")
    assert ("kubernetes:apps/v1:StatefulSet", "o:default/o-worker", "outer/charts/worker/templates/workload.yaml") in [
        (c.type, c.name, c.source) for c in children]


def test_a_document_that_is_not_a_manifest_is_named_by_its_template_line(run, tmp_path):
    chart = tmp_path / "odd"
    (chart / "crds").mkdir(parents=True)  # helm prints a CRD file as it is, a list too
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: odd\nversion: 0.1.0\n")
    (chart / "crds" / "odd.yaml").write_text("# a comment\n- just\n- a list\n")
    with pytest.raises(ExpansionError) as failed:
        expand(run, inputs={"chart": str(chart)})
    template = chart / "crds" / "odd.yaml"  # where the located parse puts it, not helm's output
    assert str(failed.value) == (f"kubernetes:helm.sh/v4:Chart 'web': {template}:2: "
                                 "not a Kubernetes manifest: a list, not a mapping")
