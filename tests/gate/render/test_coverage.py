"""What a program registers that the gate checks, and what it refuses to pass: real programs under
the gate's mocks (gate/program/runner.py) and gate/render/coverage.py."""
from __future__ import annotations

import pytest

from stateless_pack.gate.program.runner import ProgramError, RegisteredResource, run_program
from stateless_pack.gate.program.values import Secret
from stateless_pack.gate.render.coverage import NotCheckable, require_checkable, why_not_checkable
from support.chart_repository import helm_bin, helm_home  # noqa: F401 - a fixture
from support.paths import FIXTURES
from support.programs import pulumi_program

STICKY = "apiVersion: v1\nkind: Service\nmetadata: {name: sticky, namespace: shop}\nspec: {sessionAffinity: ClientIP}\n"


def test_yaml_v2_children_are_registered_under_their_component(tmp_path):
    run = run_program(pulumi_program(tmp_path, f"""\
        import pulumi_kubernetes as k8s
        k8s.yaml.v2.ConfigGroup("edge", yaml={STICKY!r})
        k8s.yaml.v2.ConfigFile("file", file="manifests/svc.yaml")
        provider = k8s.Provider("team", namespace="team-a")
        k8s.yaml.v2.ConfigGroup("ns", objs=[{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "c"}}}}],
                                opts=__import__("pulumi").ResourceOptions(provider=provider))
        """, {"manifests/svc.yaml": STICKY.replace("sticky", "from-file").replace(", namespace: shop", "")}))
    children = {r.name: r for r in run.resources if r.custom and r.type != "pulumi:providers:kubernetes"}
    assert sorted(children) == ["edge:shop/sticky", "file:default/from-file", "ns:team-a/c"]
    edge = next(r for r in run.resources if r.name == "edge")
    sticky = children["edge:shop/sticky"]
    assert sticky.parent == edge.urn and sticky.type == "kubernetes:core/v1:Service"
    assert sticky.urn == "urn:pulumi:dev::p::kubernetes:yaml/v2:ConfigGroup$kubernetes:core/v1:Service::edge:shop/sticky"
    assert sticky.inputs["spec"] == {"sessionAffinity": "ClientIP"}
    assert children["ns:team-a/c"].inputs["metadata"]["namespace"] == "team-a"  # the provider's namespace
    require_checkable(run.resources)  # nothing left unchecked


def test_secret_objects_in_lists_and_patches_keep_their_data_secret(tmp_path):
    run = run_program(pulumi_program(tmp_path, """\
        import pulumi_kubernetes as k8s
        k8s.core.v1.SecretList("l", items=[{"metadata": {"name": "a"}, "string_data": {"k": "IN-A-LIST"}}])
        k8s.core.v1.SecretPatch("p", metadata={"name": "b"}, string_data={"k": "IN-A-PATCH"})
        k8s.yaml.v2.ConfigGroup("g", yaml="apiVersion: v1\\nkind: Secret\\nmetadata: {name: c}\\ndata: {k: SU4tWUFNTA==}\\n")
        """))
    by_name = {r.name: r for r in run.resources}
    assert by_name["l"].inputs["items"][0]["stringData"] == Secret({"k": "IN-A-LIST"})
    assert by_name["p"].inputs["stringData"] == Secret({"k": "IN-A-PATCH"})
    assert by_name["g:default/c"].inputs["data"] == Secret({"k": "SU4tWUFNTA=="})


def test_a_component_the_gate_cannot_expand_fails_the_program_run_clearly(tmp_path):
    with pytest.raises(ProgramError, match="(?s)cannot expand offline.*a URL cannot be fetched offline"):
        run_program(pulumi_program(tmp_path, """\
            import pulumi_kubernetes as k8s
            k8s.yaml.v2.ConfigGroup("remote", files=["https://example.org/app.yaml"])
            """))


WEBAPP = str(FIXTURES / "charts" / "webapp")


def test_charts_and_kustomizations_register_their_objects_with_the_engines_urns(tmp_path, helm_home):
    run = run_program(pulumi_program(tmp_path, f"""\
        import pulumi_kubernetes as k8s
        k8s.helm.v4.Chart("web", chart={WEBAPP!r}, namespace="shop")
        k8s.helm.v3.Chart("old", k8s.helm.v3.LocalChartOpts(path={WEBAPP!r}, namespace="v3"))
        k8s.helm.v3.Release("rel", name="web", chart={WEBAPP!r}, namespace="rel")
        k8s.kustomize.v2.Directory("kz", directory={str(FIXTURES / "kustomize" / "overlays" / "sticky")!r})
        """), tools={"helm": str(helm_bin())})
    by_urn = {r.urn: r for r in run.resources}
    chart = by_urn["urn:pulumi:dev::p::kubernetes:helm.sh/v4:Chart::web"]
    # helm/v4/chart.go registers through yaml/v2's Register: parent the Chart, name <prefix>:<ns>/<name>
    service = by_urn["urn:pulumi:dev::p::kubernetes:helm.sh/v4:Chart$kubernetes:core/v1:Service::web:shop/web-web"]
    assert service.parent == chart.urn and service.custom and not service.gate_only
    assert service.origin == {"component": chart.urn, "source": WEBAPP, "template": "webapp/templates/service.yaml"}
    # the v3 Chart: the SDK registers what the answered invoke returned, named <ns>/<name>
    old = by_urn["urn:pulumi:dev::p::kubernetes:helm.sh/v3:Chart$kubernetes:core/v1:Service::v3/old-web"]
    assert old.origin["template"] == "webapp/templates/service.yaml" and not old.gate_only
    # the Release: its objects are the gate's alone (no engine registers them)
    release = by_urn["urn:pulumi:dev::p::kubernetes:helm.sh/v3:Release$kubernetes:core/v1:Service::rel:rel/web-web"]
    assert release.gate_only and release.parent == "urn:pulumi:dev::p::kubernetes:helm.sh/v3:Release::rel"
    assert by_urn["urn:pulumi:dev::p::kubernetes:kustomize/v2:Directory$kubernetes:core/v1:Service::kz:shop/web"]
    assert sum(r.type == "kubernetes:apps/v1:StatefulSet" for r in run.resources) == 3
    require_checkable(run.resources)  # nothing left unchecked


def test_a_remote_component_of_another_package_is_not_passed_unchecked(tmp_path):
    run = run_program(pulumi_program(tmp_path, """\
        import pulumi
        class Controller(pulumi.ComponentResource):
            def __init__(self, name):
                super().__init__("ingress-nginx:index:Controller", name, {"replicas": 1}, None, remote=True)
        Controller("edge")
        pulumi.ComponentResource("acme:index:Local", "local")  # local: its children would be registered here
        """))
    with pytest.raises(NotCheckable, match="(?s)not checked, so not passed.*'edge'.*a remote component") as refused:
        require_checkable(run.resources)
    assert "'local'" not in str(refused.value)


def resource(type_, custom=True, inputs=None, name="r", remote=False):
    return RegisteredResource(type=type_, name=name, urn=f"urn:pulumi:dev::p::{type_}::{name}", custom=custom,
                              inputs=inputs or {}, remote=remote)


@pytest.mark.parametrize("type_, custom, inputs, checkable", [
    ("kubernetes:core/v1:Service", True, {"metadata": {"name": "s"}}, True),
    ("kubernetes:core/v1:ServiceList", True, {"items": [{"metadata": {"name": "s"}}]}, True),
    ("kubernetes:core/v1:ServicePatch", True, {"metadata": {"name": "s"}}, True),
    ("kubernetes:x.io/v1:Route", True, {"metadata": {"name": "r"}}, True),
    ("kubernetes:yaml/v2:ConfigGroup", False, {}, True),
    ("kubernetes:yaml:ConfigFile", False, {}, True),
    ("pulumi:providers:kubernetes", True, {}, True),
    ("acme:index:App", False, {}, True),
    ("aws:s3/bucket:Bucket", True, {}, True),
    ("kubernetes:helm.sh/v3:Release", True, {"chart": "redis"}, True),  # the gate renders what it installs
    ("kubernetes:helm.sh/v4:Chart", False, {}, True),
    ("kubernetes:helm.sh/v3:Chart", False, {}, True),
    ("kubernetes:kustomize/v2:Directory", False, {}, True),
    ("kubernetes:kustomize:Directory", False, {}, True),
    ("kubernetes:something/v9:Future", False, {}, False),   # a component of the package the gate does not know
    ("kubernetes:core/v1:Service", True, "not a mapping", False),
])
def test_coverage_by_resource_type(type_, custom, inputs, checkable):
    assert (why_not_checkable(resource(type_, custom, inputs)) is None) is checkable


@pytest.mark.parametrize("type_, checkable", [
    ("kubernetes:yaml/v2:ConfigGroup", True), ("kubernetes:helm.sh/v4:Chart", True),
    ("ingress-nginx:index:Controller", False), ("kubernetes:something/v9:Future", False)])
def test_a_remote_component_is_checkable_only_when_the_gate_expands_it(type_, checkable):
    assert (why_not_checkable(resource(type_, False, remote=True)) is None) is checkable
