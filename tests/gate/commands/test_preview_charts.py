"""`stateless-pack preview` of programs with Helm charts and kustomizations: rendered by the real helm and
kubectl as the provider would, the children checked by the pack (over gRPC, under the engine's URNs),
Checkov and our rules; a Release's objects by the gate only. Same chart, same findings, every route."""
from __future__ import annotations

import contextlib
import io
import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from stateless_pack.gate.cli import main
from stateless_pack.gate.commands.preview import engine_resources
from stateless_pack.gate.pack.engine import launch_pack
from stateless_pack.gate.program.runner import run_program
from support.chart_repository import helm_bin, helm_home, served_repository  # noqa: F401 - a fixture
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.paths import FIXTURES, PACK_DIR, checkov_bin
from support.programs import pulumi_program

CHART = FIXTURES / "charts" / "webapp"
KUSTOMIZE = FIXTURES / "kustomize" / "overlays"
# The chart's findings with its default values, as `scan` reports them (release `webapp`, namespace `shop`):
# one file that every route reads (tests/gate/commands/test_scan_charts.py too).
EXPECTED = yaml.safe_load((FIXTURES / "charts" / "expected-findings.yaml").read_text())["webapp-defaults"]
OBJECTS = 8  # what the chart renders with these values: Deployment, StatefulSet, Service, PVC, 2 PDBs, 2 NetworkPolicies
OUR_ENGINES = ("crossguard", "checkov")   # the pack's rules (cross-checked) and Checkov's CKV_STL checks
GATE_ENGINES = ("rules", "checkov")       # a Release's objects: the pack never sees them


def in_namespace(resource: str, namespace: str) -> str:
    kind, _, name = resource.split("/")
    return f"{kind}/{namespace}/{name}"


def expected(namespace: str) -> set:
    """(rule, resource) of every expected finding, rendered into `namespace`."""
    return {(e["rule"], in_namespace(e["resource"], namespace)) for e in EXPECTED}


def template_of(entry: dict) -> str:
    """The template an expected finding points at, as helm names it (webapp/templates/x.yaml)."""
    return str(Path(entry["file"]).relative_to("tests/fixtures/charts"))


def preview(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["preview", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def program(folder: Path, body: str, files: dict | None = None) -> Path:
    header = f"import pulumi\nimport pulumi_kubernetes as k8s\nCHART = {str(CHART)!r}\n"
    return pulumi_program(folder, header + textwrap.dedent(body), files, name="charts")


def found(report: dict, namespace: str, engine: str) -> set:
    return {(f["rule"], f["resource"]) for f in report["findings"]
            if f["engine"] == engine and f["resource"].split("/")[1] == namespace}


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    """The webapp chart through a v4 Chart, a v3 Chart and a v3 Release (release `webapp` each, one
    namespace each), and through `scan`."""
    folder = tmp_path_factory.mktemp("routes")
    app = program(folder / "app", """\
        k8s.helm.v4.Chart("webapp", chart=CHART, namespace="v4")
        k8s.helm.v3.Chart("webapp", k8s.helm.v3.LocalChartOpts(path=CHART, namespace="v3"))
        k8s.helm.v3.Release("webapp", name="webapp", chart=CHART, namespace="rel")
        """)
    registry = folder / "waivers.yaml"
    registry.write_text("version: 1\nwaivers: []\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STATELESS_PACK_WAIVERS", str(registry))
        code, out, err = preview(app, "--out", folder / "m", "--json", folder / "r.json", "--sarif", folder / "r.sarif",
                                 "--state-export", folder / "state.json", "--helm", helm_bin())
        scanned = main(["scan", str(CHART), "--namespace", "scan", "--format", "json", "--output", str(folder / "s.json")])
    report = json.loads((folder / "r.json").read_text()) if (folder / "r.json").exists() else {}
    scan = json.loads((folder / "s.json").read_text()) if scanned == 1 else {"exit": scanned}
    return code, out, err, report, folder, scan


def test_the_same_chart_gives_the_same_findings_on_the_same_children_through_every_route(routes):
    code, out, err, report, _, scan = routes
    assert code == 1, out + err
    for namespace, engines in (("v4", OUR_ENGINES), ("v3", OUR_ENGINES), ("rel", GATE_ENGINES)):
        for engine in engines:
            assert found(report, namespace, engine) == expected(namespace), (namespace, engine)
    for engine in ("rules", "checkov"):
        assert found(scan, "scan", engine) == expected("scan"), engine
    # nothing else: every finding is one of those, each blocks, and every object was checked
    assert len(report["findings"]) == 3 * 2 * len(EXPECTED) and len(scan["findings"]) == 2 * len(EXPECTED)
    assert all(f["blocking"] for f in report["findings"] + scan["findings"])
    assert report["summary"]["resources"] == 3 * OBJECTS and scan["summary"]["resources"] == OBJECTS


def test_every_route_traces_a_finding_to_the_same_template(routes):
    _, _, _, report, _, scan = routes
    for entry in EXPECTED:
        scanned = {f["file"] for f in scan["findings"] if f["resource"] == in_namespace(entry["resource"], "scan")}
        assert scanned == {str(CHART.parent / template_of(entry))} or scanned == {entry["file"]}
        for namespace in ("v4", "v3", "rel"):
            origins = {f["origin"] for f in report["findings"] if f["resource"] == in_namespace(entry["resource"], namespace)}
            assert len(origins) == 1 and next(iter(origins)).endswith(f", template {template_of(entry)})"), origins


def test_the_pack_blocked_the_v4_charts_children_under_the_engines_urns(routes):
    _, _, _, report, _, _ = routes
    pack = {f["urn"] for f in report["findings"] if f["engine"] == "crossguard" and f["rule"] == "no-sticky-service"}
    # the gate blocks only what the pack blocked for the same URN (else exit 2): the pack saw these
    assert pack == {
        "urn:pulumi:dev::charts::kubernetes:helm.sh/v4:Chart$kubernetes:core/v1:Service::webapp:v4/webapp-web",
        "urn:pulumi:dev::charts::kubernetes:helm.sh/v3:Chart$kubernetes:core/v1:Service::v3/webapp-web",
    }


def test_the_report_names_the_chart_and_the_template_each_child_came_from(routes):
    _, out, _, report, _, _ = routes
    sticky = next(f for f in report["findings"] if f["resource"] == "Service/v4/webapp-web")
    assert sticky["origin"] == f"kubernetes:helm.sh/v4:Chart 'webapp' (chart {CHART}, template webapp/templates/service.yaml)"
    worker = next(f for f in report["findings"] if f["resource"] == "StatefulSet/v3/webapp-worker")
    assert worker["origin"] == (f"kubernetes:helm.sh/v3:Chart 'webapp' (chart {CHART}, "
                                "template webapp/charts/worker/templates/workload.yaml)")
    assert f"from kubernetes:helm.sh/v4:Chart 'webapp' (chart {CHART}, template webapp/templates/service.yaml)" in out


def test_a_releases_objects_are_marked_as_checked_by_the_gate_only(routes):
    _, out, _, report, folder, _ = routes
    gate_only = {f["resource"] for f in report["findings"] if f["gate_only"]}
    assert gate_only == {in_namespace(e["resource"], "rel") for e in EXPECTED}
    assert {f["engine"] for f in report["findings"] if f["gate_only"]} == set(GATE_ENGINES)
    sarif = json.loads((folder / "r.sarif").read_text())["runs"][0]["results"]
    marked = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in sarif
              if r["properties"].get("gateOnly") and r["properties"]["tags"] == ["gate-only"]}
    assert marked == gate_only
    block = out[out.index("\nService/rel/webapp-web"):]
    assert block.splitlines()[3].strip() == ("checked by the gate only (the pack of `pulumi preview "
                                             "--policy-pack` never sees it)")
    assert "checked by the gate only" not in out[out.index("\nService/v4/webapp-web"):].split("\n\n")[0]


def test_the_state_export_holds_what_the_engine_would_register_and_no_releases_objects(routes):
    *_, folder, _ = routes
    urns = {r["urn"] for r in json.loads((folder / "state.json").read_text())["deployment"]["resources"]}
    assert "urn:pulumi:dev::charts::kubernetes:helm.sh/v3:Release::webapp" in urns
    assert not [u for u in urns if "kubernetes:helm.sh/v3:Release$" in u]
    assert sum("kubernetes:helm.sh/v4:Chart$" in u for u in urns) == OBJECTS
    assert sum("kubernetes:helm.sh/v3:Chart$" in u for u in urns) == OBJECTS


def test_the_pack_over_grpc_sees_the_v4_charts_children_with_the_engines_urns(tmp_path):
    """helm/v4/chart.go registers each object through yaml/v2's Register with the Chart as parent:
    the engine's URN is `<Chart's type>$kubernetes:<group>/<version>:<Kind>::<prefix>:<ns>/<name>`
    (the provider's own tests, chart_test.go, expect exactly this form)."""
    run = run_program(program(tmp_path / "app", 'k8s.helm.v4.Chart("web", chart=CHART, namespace="shop")\n'),
                      tools={"helm": str(helm_bin())})
    sent = engine_resources(run)
    with launch_pack(PACK_DIR, project="charts", stack="dev", dry_run=False) as pack:
        pack.client.configure()
        per_resource = {(d.policy_name, d.urn) for r in sent for d in pack.client.analyze(r)}
        stack = {(d.policy_name, d.urn) for d in pack.client.analyze_stack(sent)}
    prefix = "urn:pulumi:dev::charts::kubernetes:helm.sh/v4:Chart$kubernetes:"
    assert {
        ("no-sticky-service", prefix + "core/v1:Service::web:shop/web-web"),
        ("no-persistent-volume-claims", prefix + "core/v1:PersistentVolumeClaim::web:shop/web-data"),
        ("no-persistent-volume-claims", prefix + "apps/v1:Deployment::web:shop/web-web"),
        ("no-host-path", prefix + "apps/v1:Deployment::web:shop/web-web"),
        ("no-stateful-workloads", prefix + "apps/v1:StatefulSet::web:shop/web-worker"),
    } == per_resource
    assert stack == set()  # each Deployment/StatefulSet has its PDB among the children the pack saw
    assert {r.urn for r in sent if r.type == "kubernetes:policy/v1:PodDisruptionBudget"} == {
        prefix + "policy/v1:PodDisruptionBudget::web:shop/web-web",
        prefix + "policy/v1:PodDisruptionBudget::web:shop/web-worker"}
    assert all(r.parent == "urn:pulumi:dev::charts::kubernetes:helm.sh/v4:Chart::web" for r in sent
               if r.urn.startswith(prefix))


def test_the_values_that_make_the_chart_clean_pass(tmp_path):
    stateless = (CHART / "values-stateless.yaml").read_text()
    app = program(tmp_path / "app", f"""\
import yaml
VALUES = yaml.safe_load({stateless!r})
k8s.helm.v4.Chart("values", chart=CHART, namespace="a", values=VALUES)
k8s.helm.v4.Chart("files", chart=CHART, namespace="b", value_yaml_files=[pulumi.FileAsset("stateless.yaml")])
k8s.helm.v3.Chart("old", k8s.helm.v3.LocalChartOpts(path=CHART, namespace="c", values=VALUES))
k8s.helm.v3.Release("rel", name="rel", chart=CHART, namespace="d",
                    value_yaml_files=[pulumi.StringAsset({stateless!r})])
""", {"stateless.yaml": stateless})
    code, out, err = preview(app, "--out", tmp_path / "m", "--json", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, out + err
    assert report["findings"] == [] and "PASSED: 0 blocking, 0 advisory" in out
    assert report["summary"]["resources"] == 4 * 7  # each: no PVC now, the worker a Deployment


def test_a_chart_from_a_repository_on_loopback_renders_with_the_same_findings(tmp_path, helm_home):  # noqa: F811
    with served_repository(tmp_path / "repo", CHART) as url:
        app = program(tmp_path / "app", f"""\
k8s.helm.v4.Chart("webapp", chart="webapp", version="1.2.0", namespace="repo",
                  repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo={url!r}))
""")
        code, out, err = preview(app, "--out", tmp_path / "m", "--json", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 1, out + err
    assert found(report, "repo", "crossguard") == found(report, "repo", "checkov") == expected("repo")
    sticky = next(f for f in report["findings"] if f["resource"] == "Service/repo/webapp-web")
    assert sticky["origin"] == "kubernetes:helm.sh/v4:Chart 'webapp' (chart webapp, template webapp/templates/service.yaml)"


def test_a_chart_version_the_repository_lacks_exits_2_with_helms_message(tmp_path, helm_home):  # noqa: F811
    with served_repository(tmp_path / "repo", CHART) as url:
        app = program(tmp_path / "app", f"""\
k8s.helm.v4.Chart("web", chart="webapp", version="9.9.9", repository_opts={{"repo": {url!r}}})
""")
        code, out, err = preview(app, "--out", tmp_path / "m")
    assert code == 2, out + err
    assert "kubernetes:helm.sh/v4:Chart 'web': helm: cannot fetch webapp 9.9.9" in err
    assert 'chart "webapp" version "9.9.9" not found' in err
    assert "PASSED" not in out and not (tmp_path / "m").exists()


@pytest.mark.parametrize("body", [
    'k8s.helm.v4.Chart("bad", chart=BROKEN)\n',
    'k8s.helm.v3.Chart("bad", k8s.helm.v3.LocalChartOpts(path=BROKEN))\n',
    'k8s.helm.v3.Release("bad", chart=BROKEN)\n',
])
def test_a_broken_template_exits_2_with_helms_message(tmp_path, body):
    app = program(tmp_path / "app", f"BROKEN = {str(FIXTURES / 'charts' / 'broken')!r}\n" + body)
    code, out, err = preview(app, "--out", tmp_path / "m")
    assert code == 2, out + err
    assert 'broken/templates/service.yaml:7:22' in err and "nil pointer evaluating interface {}.port" in err
    assert "PASSED" not in out and not (tmp_path / "m").exists()


def test_a_missing_helm_exits_2_with_the_command_that_installs_it(tmp_path, monkeypatch):
    checkov = checkov_bin()  # found before the cache is hidden
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no helm on PATH
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # and no provisioned copy
    monkeypatch.delenv("STATELESS_PACK_HELM", raising=False)
    app = program(tmp_path / "app", 'k8s.helm.v4.Chart("web", chart=CHART)\n')
    code, out, err = preview(app, "--out", tmp_path / "m", "--checkov", checkov)
    assert code == 2, out + err
    assert "kubernetes:helm.sh/v4:Chart 'web': helm is not installed where the gate looks" in err
    assert "Run `stateless-pack tools install`" in err and "--helm PATH or $STATELESS_PACK_HELM" in err


@pytest.mark.parametrize("body, option, env, message", [
    ('k8s.helm.v4.Chart("web", chart=CHART)\n', "--helm", None, "--helm names {}, which is not an executable helm"),
    ('k8s.helm.v3.Release("web", chart=CHART)\n', None, "STATELESS_PACK_HELM",
     "$STATELESS_PACK_HELM names {}, which is not an executable helm"),
    (f'k8s.kustomize.Directory("k", directory={str(KUSTOMIZE / "sticky")!r})\n', "--kubectl", None,
     "--kubectl names {}, which is not an executable kubectl"),
])
def test_the_tool_named_by_a_flag_or_the_environment_is_the_one_used(tmp_path, monkeypatch, body, option, env, message):
    missing = tmp_path / "nothing-here"
    if env:
        monkeypatch.setenv(env, str(missing))
    app = program(tmp_path / "app", body)
    code, out, err = preview(app, "--out", tmp_path / "m", *((option, missing) if option else ()))
    assert code == 2, out + err
    assert message.format(missing) in err and "PASSED" not in out


def test_a_waiver_scoped_to_one_child_applies_to_it_alone(tmp_path, monkeypatch):
    today = date.today()
    registry = tmp_path / "waivers.yaml"
    approval = {"approved_by": "max.mustermann@example.org", "approver_role": "platform-lead",
                "created": today - timedelta(days=1), "expires": today + timedelta(days=30)}
    worker = "urn:pulumi:dev::charts::kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:StatefulSet::other:b/webapp-worker"
    registry.write_text(yaml.safe_dump({"version": 1, "waivers": [
        {"id": "W-0200", "rules": ["no-persistent-volume-claims"], "reference": "STO-7",
         "scope": {"stack": "dev", "kind": "PersistentVolumeClaim", "namespace": "a", "name": "webapp-data"},
         "reason": "The chart's cache volume in team a stays until its object-storage migration.", **approval},
        {"id": "W-0201", "rules": ["no-stateful-workloads"], "reference": "STO-8", "scope": {"urn": worker},
         "reason": "Team b's worker keeps its queue on disk until the queue service exists.", **approval}]}))
    monkeypatch.setenv("STATELESS_PACK_WAIVERS", str(registry))
    app = program(tmp_path / "app", """\
k8s.helm.v4.Chart("webapp", chart=CHART, namespace="a")
k8s.helm.v4.Chart("other", chart=CHART, namespace="b", name="webapp")
""")
    code, out, err = preview(app, "--out", tmp_path / "m", "--json", tmp_path / "r.json")
    assert code == 1, out + err
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    waived = sorted((f["waiver"], f["engine"], f["resource"]) for f in findings if f["waiver"])
    assert waived == [("W-0200", "checkov", "PersistentVolumeClaim/a/webapp-data"),
                      ("W-0200", "crossguard", "PersistentVolumeClaim/a/webapp-data"),
                      ("W-0201", "checkov", "StatefulSet/b/webapp-worker"),
                      ("W-0201", "crossguard", "StatefulSet/b/webapp-worker")]
    assert not any(f["blocking"] for f in findings if f["waiver"])
    blocking = {(f["rule"], f["resource"]) for f in findings if f["blocking"]}
    assert blocking == (expected("a") | expected("b")) - {  # the same children in the other team still block
        ("no-persistent-volume-claims", "PersistentVolumeClaim/a/webapp-data"),
        ("no-stateful-workloads", "StatefulSet/b/webapp-worker")}


@pytest.mark.parametrize("body, component", [
    ('k8s.kustomize.Directory("sticky", directory=DIR)\n', "kubernetes:kustomize:Directory 'sticky'"),
    ('k8s.kustomize.v2.Directory("sticky", directory=DIR)\n',
     f"kubernetes:kustomize/v2:Directory 'sticky' (directory {KUSTOMIZE / 'sticky'})"),
])
def test_the_sticky_overlay_blocks_exactly_its_sticky_service(tmp_path, body, component):
    app = program(tmp_path / "app", f"DIR = {str(KUSTOMIZE / 'sticky')!r}\n" + body)
    code, out, err = preview(app, "--out", tmp_path / "m", "--json", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 1, out + err
    assert sorted((f["rule"], f["engine"], f["resource"], f["path"]) for f in report["findings"]) == [
        ("no-sticky-service", "checkov", "Service/shop/web", "spec.sessionAffinity"),
        ("no-sticky-service", "crossguard", "Service/shop/web", "spec.sessionAffinity"),
    ]
    assert {f["origin"] for f in report["findings"]} == {component}
    assert report["summary"]["resources"] == 4  # the base's Deployment, Service, PDB and NetworkPolicy
