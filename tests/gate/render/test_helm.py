"""gate/render/helm.py with the real helm: documents with their templates and lines, values over
stdin, charts from a loopback repository, and helm's own message when a chart cannot be had."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from stateless_pack.gate import processes
from stateless_pack.gate.render import helm
from support.chart_repository import CHARTS, helm_bin, helm_home, served_repository  # noqa: F401

WEBAPP = CHARTS / "webapp"


def rendered(chart: str | Path = WEBAPP, **options) -> helm.Rendered:
    options.setdefault("release", "webapp")
    options.setdefault("namespace", "shop")
    return helm.template(helm.ChartRef(str(chart)), helm=helm_bin(), **options)


def placed(result: helm.Rendered) -> list:
    return [(d.manifest["kind"], d.manifest["metadata"]["name"], d.source, d.template_line)
            for d in result.documents]


def test_each_document_names_its_template_file_and_the_line_it_starts_at():
    result = rendered()
    assert placed(result) == [
        ("NetworkPolicy", "webapp-worker", "webapp/charts/worker/templates/workload.yaml", 46),
        ("NetworkPolicy", "webapp-web", "webapp/templates/networkpolicy.yaml", 1),
        ("PodDisruptionBudget", "webapp-worker", "webapp/charts/worker/templates/workload.yaml", 34),
        ("PodDisruptionBudget", "webapp-web", "webapp/templates/pdb.yaml", 1),
        ("PersistentVolumeClaim", "webapp-data", "webapp/templates/pvc.yaml", 2),   # line 1 is the `if`
        ("Service", "webapp-web", "webapp/templates/service.yaml", 1),
        ("Deployment", "webapp-web", "webapp/templates/deployment.yaml", 1),
        ("StatefulSet", "webapp-worker", "webapp/charts/worker/templates/workload.yaml", 1),
    ]
    assert {d.template_file for d in result.documents if d.source.endswith("workload.yaml")} == {
        str(WEBAPP / "charts" / "worker" / "templates" / "workload.yaml")}
    assert result.problems == []


def test_fields_point_at_the_template_lines_that_wrote_them():
    by_kind = {d.manifest["kind"]: d for d in rendered().documents}
    deployment, service = by_kind["Deployment"], by_kind["Service"]
    assert service.template_lines.line_of("spec.sessionAffinity") == 10
    assert deployment.template_lines.line_of("spec.template.spec.volumes[1].persistentVolumeClaim") == 50
    assert deployment.template_lines.line_of("spec.template.spec.volumes[2].hostPath.path") == 56
    # written by `{{- include "webapp.hardened" . | nindent 10 }}`: the include's line
    assert deployment.template_lines.line_of("spec.template.spec.containers[0].securityContext.privileged") == 22
    assert by_kind["StatefulSet"].template_lines.line_of("kind") == 2
    # the line in helm's output is kept too
    text_lines = rendered().text.split("\n")
    assert text_lines[service.lines.line_of("spec.sessionAffinity") - 1] == "  sessionAffinity: ClientIP"


def test_without_locate_the_documents_are_the_same_but_not_placed_in_their_templates():
    located, unlocated = rendered(), rendered(locate=False)
    assert [(d.manifest, d.source, d.line) for d in unlocated.documents] == [
        (d.manifest, d.source, d.line) for d in located.documents]
    assert unlocated.chart is None and {(d.template_file, d.template_line) for d in unlocated.documents} == {("", 0)}


def test_values_given_as_a_mapping_go_over_stdin_win_over_files_and_lose_to_set(tmp_path):
    secret = "s3cr3t-value-only-on-stdin"
    log = tmp_path / "argv.log"
    spy = tmp_path / "helm"
    spy.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {helm_bin()} "$@"\n')
    spy.chmod(0o755)
    files = tmp_path / "values.yaml"
    files.write_text("service: {sessionAffinity: ClientIP}\nreplicaCount: 5\n")
    result = helm.template(helm.ChartRef(str(WEBAPP)), release="webapp", namespace="shop", helm=spy,
                           values_files=[str(files)], set_values=["replicaCount=4"],
                           values={"service": {"sessionAffinity": "None"}, "replicaCount": 3,
                                   "image": {"tag": secret}})
    by_kind = {d.manifest["kind"]: d.manifest for d in result.documents}
    assert by_kind["Service"]["spec"]["sessionAffinity"] == "None"        # the mapping over the file
    assert by_kind["Deployment"]["spec"]["replicas"] == 4                 # --set over the mapping
    assert by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(secret)
    assert "--values -" in log.read_text() and secret not in log.read_text()


def test_a_template_that_does_not_render_is_an_error_with_helms_message():
    with pytest.raises(helm.HelmError) as raised:
        rendered(CHARTS / "broken")
    assert str(raised.value) == (
        f"cannot render {CHARTS / 'broken'}: broken/templates/service.yaml:7:22\n"
        '  executing "broken/templates/service.yaml" at <.Values.service.port>:\n'
        "    nil pointer evaluating interface {}.port")


def test_a_chart_that_is_not_there_is_an_error_never_an_empty_chart(tmp_path):
    with pytest.raises(helm.HelmError, match=f'path "{tmp_path / "nope"}" not found'):
        rendered(tmp_path / "nope")


def test_a_chart_from_a_repository_on_loopback_renders_with_its_template_lines(tmp_path, helm_home):
    with served_repository(tmp_path / "repo", WEBAPP) as url:
        result = helm.template(helm.ChartRef("webapp", version="1.2.0", repo=url), release="webapp",
                               namespace="shop", helm=helm_bin())
        with pytest.raises(helm.HelmError) as missing:
            helm.template(helm.ChartRef("webapp", version="9.9.9", repo=url), release="webapp",
                          namespace="shop", helm=helm_bin())
    assert placed(result) == placed(rendered())
    assert {d.template_file for d in result.documents} == {""}  # inside the fetched archive
    assert str(missing.value) == (f"cannot fetch webapp 9.9.9 from {url}: chart \"webapp\" version \"9.9.9\" "
                                  f"not found in {url} repository")


def test_a_repository_that_cannot_be_reached_is_helms_message(helm_home):
    with pytest.raises(helm.HelmError, match="cannot fetch webapp 1.2.0 from http://127.0.0.1:9/: looks like "
                                             '"http://127.0.0.1:9/" is not a valid chart repository'):
        helm.template(helm.ChartRef("webapp", version="1.2.0", repo="http://127.0.0.1:9/"), release="w",
                      namespace="shop", helm=helm_bin())


def test_the_password_never_appears_in_an_error(tmp_path, helm_home):
    fake = tmp_path / "helm"
    fake.write_text('#!/bin/sh\necho "Error: login as bob with hunter2 refused" >&2\nexit 1\n')
    fake.chmod(0o755)
    with pytest.raises(helm.HelmError) as raised:
        helm.template(helm.ChartRef("webapp", repo="https://charts.example", username="bob", password="hunter2"),
                      release="w", namespace="shop", helm=fake)
    assert str(raised.value) == "cannot fetch webapp from https://charts.example: login as bob with <redacted> refused"
    assert "hunter2" not in repr(helm.ChartRef("x", password="hunter2"))


def test_a_helm_past_its_deadline_is_stopped_with_its_children(tmp_path):
    pid_file = tmp_path / "child.pid"
    slow = tmp_path / "helm"
    slow.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {pid_file}\nwait\n")
    slow.chmod(0o755)
    groups_before = set(processes._groups)  # other tests' children may still be ending
    started = time.monotonic()
    with pytest.raises(helm.HelmError, match="helm did not finish within 1s"):
        helm.template(helm.ChartRef(str(WEBAPP)), release="w", namespace="shop", helm=slow, timeout=1)
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    assert _gone_within(child, seconds=5)  # SIGKILL is sent; a loaded machine takes a moment to deliver it
    assert processes._groups <= groups_before  # helm's group is no longer registered


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_missing_helm_is_an_error():
    with pytest.raises(helm.HelmError, match="cannot run /nonexistent/helm"):
        helm.template(helm.ChartRef(str(WEBAPP)), release="w", namespace="shop", helm=Path("/nonexistent/helm"))


def test_a_chart_read_from_an_archive_places_documents_like_its_folder(tmp_path, helm_home):
    archive_folder = tmp_path / "packaged"
    archive_folder.mkdir()
    subprocess.run([str(helm_bin()), "package", str(WEBAPP), "-d", str(archive_folder)], check=True,
                   capture_output=True)
    [archive] = archive_folder.glob("*.tgz")
    assert placed(rendered(archive)) == placed(rendered())
    shutil.rmtree(archive_folder)
