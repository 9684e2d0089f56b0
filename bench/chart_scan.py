"""`stateless-pack scan CHART` against `checkov --framework helm -d CHART` on one generated chart, in one run.

    .venv/bin/python bench/chart_scan.py [--apps 50] [--repeat 3] [--no-write]

The chart (made in a temporary folder) renders `--apps` x 4 resources from one template's `range`
loop: a Deployment, a Service (sticky for every fifth app), a PodDisruptionBudget and a
NetworkPolicy per app, about 200 at the default. Both commands run offline with our checks and the
same helm (the provisioned one, put first on PATH for Checkov's helm framework, which runs `helm`
by name); each is timed `--repeat` times and its fastest run kept. Prints the table and writes
`bench/chart_results.md` (unless `--no-write`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stateless_pack.gate.checkov.env import find_checkov
from stateless_pack.gate.checkov.runner import OUR_CHECKS_DIR
from stateless_pack.gate.render import tools

RESULTS = Path(__file__).resolve().with_name("chart_results.md")

TEMPLATE = """\
{{- range $i, $name := .Values.apps }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels: {app: {{ $name }}}
spec:
  replicas: 2
  selector: {matchLabels: {app: {{ $name }}}}
  template:
    metadata: {labels: {app: {{ $name }}}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: web
          image: "registry.example.org/bench/{{ $name }}:1.0@sha256:{{ $.Values.digest }}"
          imagePullPolicy: Always
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}
          readinessProbe: {httpGet: {path: /ready, port: 8080}}
          livenessProbe: {httpGet: {path: /live, port: 8080}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
spec:
  selector: {app: {{ $name }}}
  sessionAffinity: {{ if eq (mod $i 5) 0 }}ClientIP{{ else }}None{{ end }}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: {{ $name }}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
spec:
  podSelector: {matchLabels: {app: {{ $name }}}}
  policyTypes: [Ingress]
{{- end }}
"""


def make_chart(folder: Path, apps: int) -> Path:
    chart = folder / "bench-chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bench\nversion: 1.0.0\n")
    names = "".join(f"  - app-{i:03d}\n" for i in range(apps))
    (chart / "values.yaml").write_text(f"digest: {'a' * 64}\napps:\n{names}")
    (chart / "templates" / "apps.yaml").write_text(TEMPLATE)
    return chart


def timed(command: list[str], env: dict, cwd: Path, repeat: int) -> tuple[float, subprocess.CompletedProcess]:
    best, done = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - started)
    return best, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--apps", type=int, default=50, help="apps in the chart, 4 resources each (default 50)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the fastest is kept")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/chart_results.md")
    args = parser.parse_args(argv)
    helm = tools.find(tools.HELM)
    checkov = find_checkov()
    with tempfile.TemporaryDirectory(prefix="stateless-pack-bench-") as work:
        work = Path(work)
        chart = make_chart(work, args.apps)
        (work / "home").mkdir()
        registry = work / "no-waivers.yaml"
        registry.write_text("version: 1\nwaivers: []\n")
        env = {**os.environ, "PATH": f"{helm.parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "STATELESS_PACK_WAIVERS": str(registry), "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
               "BC_SKIP_MAPPING": "TRUE"}
        scan_seconds, scan = timed(
            [sys.executable, "-m", "stateless_pack.gate.cli", "scan", str(chart), "--namespace", "bench",
             "--helm", str(helm), "--format", "json", "--output", str(work / "scan.json")], env, work, args.repeat)
        checkov_seconds, alone = timed(
            [str(checkov), "--framework", "helm", "-d", str(chart), "--external-checks-dir", str(OUR_CHECKS_DIR),
             "--skip-download", "--compact", "--quiet", "--output", "json", "--output-file-path", str(work / "ck")],
            {**env, "HOME": str(work / "home")}, work, args.repeat)
        if scan.returncode not in (0, 1) or alone.returncode not in (0, 1):
            print(f"a command failed:\nscan {scan.returncode}: {scan.stderr[-2000:]}\n"
                  f"checkov {alone.returncode}: {alone.stderr[-2000:]}", file=sys.stderr)
            return 2
        report = json.loads((work / "scan.json").read_text())
        checkov_report = json.loads((work / "ck" / "results_json.json").read_text())
    checkov_summary = (checkov_report[0] if isinstance(checkov_report, list) else checkov_report)["summary"]
    rows = [("stateless-pack scan CHART", scan_seconds, report["manifests"], len(report["findings"])),
            ("checkov --framework helm -d CHART", checkov_seconds, checkov_summary["resource_count"],
             checkov_summary["failed"])]
    table = ["| command | seconds (best of %d) | resources | findings |" % args.repeat, "|---|---|---|---|"]
    table += [f"| `{name}` | {seconds:.2f} | {resources} | {findings} |" for name, seconds, resources, findings in rows]
    ratio = scan_seconds / checkov_seconds
    text = "\n".join(table) + f"\n\nscan / checkov --framework helm: **{ratio:.2f} x**\n"
    print(text)
    if not args.no_write:
        RESULTS.write_text(
            "# `scan` of a chart against Checkov's helm framework (bench/chart_scan.py)\n\n"
            f"One generated chart, {args.apps} apps x 4 resources from one `range` loop; both offline, with "
            "our checks and the same helm; the fastest of each command's runs, on a shared machine (compare "
            "the ratio, not the seconds). `scan` renders into `--namespace bench`, runs our stack rules too, "
            "places every finding in the template and reports each of our rules' findings once per engine "
            "(rules and Checkov: the sticky Service of every fifth app, twice). Checkov's helm framework "
            "renders into `default` (it has no namespace option), so `CKV_K8S_21` adds one finding per "
            "namespaced resource, and it counts each Deployment's pod template as a resource of its own.\n\n"
            + text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
