"""A streamed Checkov (gate/checkov/worker.py) gives exactly the report of one `checkov -d` over the folder:
the same records (check id, resource, file, result, evaluated keys), graph checks included."""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from stateless_pack.gate.checkov import runner as checkov_runner
from stateless_pack.gate.checkov.runner import CheckovProcess, checkov_command
from stateless_pack.gate.render.manifest_files import load_manifests
from support.paths import FIXTURES, REPO, checkov_bin

# Resources for Checkov's graph checks: a NetworkPolicy for some pods only (CKV2_K8S_6), RBAC
# bindings to roles that can and cannot exec into pods or read secrets (CKV2_K8S_1..5).
GRAPH = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: covered, namespace: shop, labels: {app: covered}}
spec:
  selector: {matchLabels: {app: covered}}
  template:
    metadata: {labels: {app: covered}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: uncovered, namespace: shop}
spec:
  selector: {matchLabels: {app: uncovered}}
  template:
    metadata: {labels: {app: uncovered}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: covered, namespace: shop}
spec: {podSelector: {matchLabels: {app: covered}}, policyTypes: [Ingress]}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: other, labels: {app: bare}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: covered, namespace: shop, labels: {app: covered, tier: web}}
spec: {selector: {app: covered}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: versioned, namespace: shop, labels: {app: versioned, version: 2}}
spec:
  selector: {matchLabels: {app: versioned, version: 2}}
  template:
    metadata: {labels: {app: versioned, version: 2, tier: web}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: odd-selector, namespace: other}
spec: {selector: {matchLabels: {app: bare}}, podSelector: {matchLabels: {app: nobody}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: layered, namespace: shop}
spec:
  selector: {matchLabels: {app: layered}}
  template:
    metadata: {labels: {tier: backend, zone: a, app: layered}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec: {selector: {zone: a, tier: backend}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: unlabelled, namespace: other, labels: {}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: exec}
rules: [{apiGroups: [""], resources: [pods/exec, secrets], verbs: [create, get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: exec}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: exec}
subjects: [{kind: ServiceAccount, name: ops, namespace: shop}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read, namespace: shop}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read}
subjects: [{kind: User, name: jane}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: missing}
subjects: [{kind: ServiceAccount, name: ops, namespace: shop}]
"""


def manifests(tmp_path: Path) -> list[dict]:
    (tmp_path / "graph.yaml").write_text(GRAPH)
    loaded, problems = load_manifests([str(tmp_path / "graph.yaml")] + [
        str(FIXTURES / "scan" / folder) for folder in ("clean", "samples", "violating")])
    assert not problems
    return [m.manifest for m in loaded]


def records(reports: list[dict]) -> set:
    """Every record, its file by name (the two runs read the same names in different folders), its
    evaluated keys as a set (Checkov's graph checks list them in a different order on every run)."""
    return {(result, r["check_id"], r["resource"], Path(r["file_abs_path"]).name, r["check_result"]["result"],
             tuple(sorted(r["check_result"].get("evaluated_keys") or [])), tuple(r["file_line_range"]))
            for report in reports for result in ("passed_checks", "failed_checks", "skipped_checks")
            for r in report["results"][result]}


def whole_folder_run(folder: Path) -> list[dict]:
    """`checkov -d folder` as a plain command (Checkov's own runner), with the gate's options."""
    checkov = CheckovProcess(checkov_bin())
    try:
        return checkov.scan([folder], True)
    finally:
        checkov.close()


@pytest.mark.parametrize("streamed_at_the_end", [0, 5])
def test_a_streamed_scan_has_the_records_of_one_whole_folder_run(tmp_path, streamed_at_the_end):
    documents = manifests(tmp_path)
    streamed = CheckovProcess.prestart(checkov_bin(), streamed=True)
    try:
        assert streamed.streamed
        early = documents[:len(documents) - streamed_at_the_end]
        for start in range(0, len(early), 4):  # batches, as the gate's feed writes them
            streamed.add_inputs(early[start:start + 4])
        for document in documents[len(early):]:  # written to the folder, never named in a batch
            (streamed.input_folder / f"late-{len(list(streamed.input_folder.iterdir()))}.yaml").write_text(
                yaml.dump(document))
        shutil.copytree(streamed.input_folder, tmp_path / "same")
        reports = streamed.scan([streamed.input_folder], True)
    finally:
        streamed.close()
    whole = whole_folder_run(tmp_path / "same")
    assert records(reports) == records(whole)
    assert [{k: v for k, v in r.items() if k != "results"} for r in reports] == \
        [{k: v for k, v in r.items() if k != "results"} for r in whole]  # summary, url, check type
    graph = {(r[1], r[2], r[4]) for r in records(whole) if r[1].startswith("CKV2_K8S")}
    assert {("CKV2_K8S_6", "Pod.shop.covered.app-covered", "PASSED"),
            ("CKV2_K8S_6", "Pod.shop.uncovered.app-uncovered", "FAILED"),
            ("CKV2_K8S_2", "ClusterRoleBinding.default.exec", "FAILED")} <= graph


def test_the_worker_reads_lists_and_multi_document_files_as_checkov_does(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "graph.yaml").write_text(GRAPH)  # several documents in one file
    for source in (FIXTURES / "scan" / "clean" / "service-list.yaml", FIXTURES / "scan" / "samples" / "nginx.yaml"):
        shutil.copy(source, folder / source.name)
    checkov = CheckovProcess(checkov_bin())
    try:
        command = checkov_command(checkov.checkov_bin, [folder], True, str(tmp_path / "out"))
        lines = [command[1:], ["graph.yaml"], ["service-list.yaml"], None]  # nginx.yaml: read at the end
        worker = subprocess.run(
            [str(checkov.checkov_bin.parent / "python"), str(checkov_runner.WORKER), str(checkov.checkov_bin)],
            input="".join(json.dumps(line) + "\n" for line in lines), text=True, capture_output=True,
            cwd=checkov.work_dir, env=checkov.env, timeout=600)
    finally:
        checkov.close()
    assert worker.returncode == 0, worker.stderr
    streamed = checkov_runner.parse_reports((tmp_path / "out" / "results_json.json").read_text())
    assert records(streamed) == records(whole_folder_run(folder))


def test_a_worker_whose_gate_went_away_reports_nothing(tmp_path):
    checkov = CheckovProcess(checkov_bin())
    try:
        command = checkov_command(checkov.checkov_bin, [checkov.input_folder], True, str(tmp_path / "out"))
        worker = subprocess.run(
            [str(checkov.checkov_bin.parent / "python"), str(checkov_runner.WORKER), str(checkov.checkov_bin)],
            input=json.dumps(command[1:]) + "\n" + json.dumps([]) + "\n", text=True, capture_output=True,
            cwd=checkov.work_dir, env=checkov.env, timeout=600)  # no `null`: the input just ends
    finally:
        checkov.close()
    assert worker.returncode != 0 and not (tmp_path / "out").exists()


def test_the_streamed_runner_follows_the_pinned_checkov():
    tree = ast.parse((REPO / "gate" / "checkov" / "worker.py").read_text())
    version = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], "id", "") == "STREAMED_VERSION")
    assert f"checkov=={version}\n" in (REPO / "gate" / "checkov" / "checkov-requirements.txt").read_text()


# Run by Checkov's interpreter: Checkov's graph and the worker's indexed graph over the same files.
COMPARE_EDGES = """
import json, runpy, sys
from checkov.common.util.data_structures_utils import pickle_deepcopy
from checkov.kubernetes.graph_builder.local_graph import KubernetesLocalGraph
from checkov.kubernetes.kubernetes_graph_flags import K8sGraphFlags
from checkov.kubernetes.kubernetes_utils import _parse_file
worker = runpy.run_path(sys.argv[1])
definitions = {}
for path in sys.argv[2:]:
    definitions[path] = _parse_file(path)[1][0]
graphs = []
for graph_class in (KubernetesLocalGraph, worker["IndexedLocalGraph"]):
    graph = graph_class(pickle_deepcopy(definitions))
    graph.build_graph(render_variables=False, graph_flags=K8sGraphFlags())
    graphs.append([(e.origin, e.dest, e.label) for e in graph.edges])
print(json.dumps(graphs))
"""


# Network policies only the edge comparison sees (they would cover every pod of the graph checks):
# a selector on a later label, an empty selector (every pod), none at all; pods without labels.
MORE_EDGES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: zone-a, namespace: shop}
spec: {podSelector: {matchLabels: {zone: a}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: every-pod, namespace: shop}
spec: {podSelector: {matchLabels: {}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: no-selector, namespace: shop}
spec: {policyTypes: [Ingress]}
---
apiVersion: v1
kind: Pod
metadata: {name: no-labels, namespace: shop}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: numbered, namespace: shop, labels: {zone: a, rank: 1}}
spec: {containers: [{name: c, image: nginx}]}
"""


def test_the_indexed_graph_has_checkov_s_edges_in_checkov_s_order(tmp_path):
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "edges.yaml").write_text(MORE_EDGES)
    more, problems = load_manifests([str(tmp_path / "more" / "edges.yaml")])
    assert not problems
    for index, document in enumerate(manifests(tmp_path) + [m.manifest for m in more]):
        (tmp_path / f"{index:03d}.yaml").write_text(yaml.dump(document))
    files = sorted(str(f) for f in tmp_path.glob("[0-9]*.yaml"))
    python = checkov_bin().parent / "python"
    result = subprocess.run([str(python), "-c", COMPARE_EDGES, str(checkov_runner.WORKER), *files],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    checkov_edges, indexed_edges = json.loads(result.stdout.splitlines()[-1])
    assert indexed_edges == checkov_edges
    labels = {label for _, _, label in checkov_edges}
    layered = "Pod.shop.layered.app-layered.tier-backend.zone-a"  # its selectors match on later labels
    assert len(checkov_edges) > 10 and {layered, "Service.shop.covered"} <= labels
    policies = {label for _, _, label in checkov_edges if label.startswith("NetworkPolicy.shop.")}
    assert {"NetworkPolicy.shop.zone-a", "NetworkPolicy.shop.every-pod", "NetworkPolicy.shop.covered"} <= policies


def test_a_streamed_checkov_told_it_has_every_input_takes_no_more(tmp_path):
    documents = manifests(tmp_path)
    streamed = CheckovProcess.prestart(checkov_bin(), streamed=True)
    try:
        streamed.add_inputs(documents[:3])
        streamed.complete_inputs()  # its graph checks start now
        with pytest.raises(checkov_runner.CheckovError, match="every input file"):
            streamed.add_inputs(documents[3:4])
        shutil.copytree(streamed.input_folder, tmp_path / "same")
        reports = streamed.scan([streamed.input_folder], True)
    finally:
        streamed.close()
    assert records(reports) == records(whole_folder_run(tmp_path / "same"))


# Run by Checkov's interpreter: Checkov's YAML loader as it is, then on libyaml's parser (the worker's).
COMPARE_LOADERS = """
import json, runpy, sys
from pathlib import Path
from checkov.kubernetes.parser import k8_yaml
worker = runpy.run_path(sys.argv[1])
def load(path):
    try:
        return repr(k8_yaml.load(Path(path)))
    except Exception as exc:
        return type(exc).__name__
plain = [load(path) for path in sys.argv[2:]]
worker["use_libyaml"]()
print(json.dumps([k8_yaml.SafeLineLoader.__mro__[1].__name__, plain == [load(path) for path in sys.argv[2:]]]))
"""


def test_checkov_s_yaml_loader_on_libyaml_reads_the_same_documents_and_lines(tmp_path):
    (tmp_path / "graph.yaml").write_text(GRAPH)
    (tmp_path / "more.yaml").write_text(MORE_EDGES)
    (tmp_path / "odd.yaml").write_text(
        "# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: odd, labels: {a: 'x'}}\n"
        "data:\n  script: |\n    echo \"ünïcode\"\n    exit 0\n  other: *m\n  folded: >\n    one\n    two\n"
        "---\n\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: \"a\\tb\"}\n")
    files = [str(f) for f in sorted(tmp_path.glob("*.yaml"))] + [
        str(f) for f in sorted((REPO / "tests" / "fixtures").rglob("*.yaml"))]
    python = checkov_bin().parent / "python"
    result = subprocess.run([str(python), "-c", COMPARE_LOADERS, str(checkov_runner.WORKER), *files],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == ["CSafeLoader", True]
    assert len(files) > 100


# Run by Checkov's interpreter: the worker's report text against json.dumps (what Checkov writes).
COMPARE_REPORT_TEXT = """
import io, json, runpy, sys
from checkov.common.util.json_utils import CustomJSONEncoder
worker = runpy.run_path(sys.argv[1])
report = json.load(open(sys.argv[2]))
same = []
for value in (report, [report, report], {"passed": 0, "failed": 0}, [], {"a": {1: "x", "b": [1.5, None]}}):
    text = io.StringIO()
    worker["write_json"](text, value, CustomJSONEncoder().encode)
    same.append(text.getvalue() == json.dumps(value, cls=CustomJSONEncoder))
print(json.dumps(same))
"""


def test_the_worker_writes_the_text_checkov_writes(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "graph.yaml").write_text(GRAPH)
    checkov = CheckovProcess(checkov_bin())
    try:
        checkov.scan([tmp_path / "in"], True)
        report = Path(checkov.work_dir) / "out" / "results_json.json"
        result = subprocess.run([str(checkov_bin().parent / "python"), "-c", COMPARE_REPORT_TEXT,
                                 str(checkov_runner.WORKER), str(report)], capture_output=True, text=True, timeout=600)
    finally:
        checkov.close()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [True] * 5


def fake_venv_checkov(tmp_path: Path, body: str) -> Path:
    """A `checkov` in a virtual environment whose `python` runs `body` instead of the worker."""
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    python = tmp_path / "venv" / "bin" / "python"
    python.write_text(f"#!{sys.executable}\nimport sys, time\n{body}")
    python.chmod(0o755)
    checkov = tmp_path / "venv" / "bin" / "checkov"
    checkov.write_text("#!/bin/sh\nexit 3\n")
    checkov.chmod(0o755)
    return checkov


@pytest.mark.parametrize("body, expected", [
    ("sys.stdin.readline()\nsys.stderr.write('Traceback ...\\nKeyError: boom\\n')\nsys.exit(1)\n",
     r"(?s)Checkov failed \(exit 1\).*KeyError: boom"),  # it crashed while the gate was still streaming
    ("time.sleep(300)\n", r"did not finish within 2s \(--timeout-checkov\)"),
])
def test_a_streamed_checkov_that_crashes_or_hangs_is_a_failed_scan(tmp_path, body, expected):
    streamed = CheckovProcess.prestart(fake_venv_checkov(tmp_path, body), streamed=True, timeout=2)
    try:
        assert streamed.streamed
        time.sleep(0.5)
        streamed.add_inputs(manifests(tmp_path)[:3])  # a reader that went away: no error yet
        with pytest.raises(checkov_runner.CheckovError, match=expected):
            streamed.scan([streamed.input_folder], True)
    finally:
        streamed.close()
    assert streamed._process.poll() is not None and not Path(streamed.work_dir).exists()


def test_a_streamed_checkov_that_stops_reading_never_holds_up_the_gate(tmp_path):
    # It reads nothing: once its stdin pipe is full (64 KiB, some 4,700 input lines) a blocking
    # write would stop the feed, and with it the whole gate, before --timeout-checkov even starts.
    streamed = CheckovProcess.prestart(fake_venv_checkov(tmp_path, "time.sleep(300)\n"), streamed=True,
                                       timeout=2)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "shop"}}
    added = threading.Thread(target=lambda: [streamed.add_inputs([service]) for _ in range(6000)], daemon=True)
    try:
        added.start()
        added.join(timeout=120)
        assert not added.is_alive(), "add_inputs waited on a Checkov that reads nothing"
        with pytest.raises(checkov_runner.CheckovError, match=r"did not finish within 2s"):
            streamed.scan([streamed.input_folder], True)
    finally:
        streamed.close()
    assert streamed._process.poll() is not None and not Path(streamed.work_dir).exists()
