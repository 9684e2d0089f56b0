"""Node.js programs (runtime: nodejs), TypeScript and JavaScript: run through @pulumi/pulumi's own cmd/run
under its mocks, every call answered by the same host as Python programs (URNs, parents, secrets,
source lines, yaml/v2 and Helm expansion), their errors as the CLI shows them with the program's own
frames, their secrets never shown, and nothing they started left running. The projects use the
packages `make node-packages` installs for examples/typescript (linked, as a workspace would have them)."""
from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest

from stateless_pack.gate.program.runner import run_program
from stateless_pack.gate.program.values import Secret, reveal
from support.program_runs import everything_said, failure
from support.paths import FIXTURES
from support.typescript_examples import TYPESCRIPT

PASSWORD = "node-dev-password-4242"
HEADER = 'import * as pulumi from "@pulumi/pulumi";\nimport * as k8s from "@pulumi/kubernetes";\n'


def node_project(tmp_path: Path, body: str, *, main: str = "index.ts", stack: str | None = None, packages: bool = True) -> Path:
    app = tmp_path / "app"
    (app / main).parent.mkdir(parents=True, exist_ok=True)
    (app / "Pulumi.yaml").write_text("name: p\nruntime: nodejs\n")
    (app / "Pulumi.dev.yaml").write_text(stack if stack is not None else
                                         f"config:\n  p:password: {json.dumps(PASSWORD)}\n")
    (app / "package.json").write_text(json.dumps({"name": "p", "private": True}))
    (app / main).write_text((HEADER if main.endswith(".ts") else "") + textwrap.dedent(body))
    if packages:
        (app / "node_modules").symlink_to(TYPESCRIPT / "node_modules", target_is_directory=True)
    return app


# ---- what the engine would see -------------------------------------------------------------------

def test_a_typescript_program_registers_what_the_engine_would_see(tmp_path):
    run = run_program(node_project(tmp_path, """\
        class Web extends pulumi.ComponentResource {
            constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
                super("acme:web:Web", name, {}, opts);
                const cm = new k8s.core.v1.ConfigMap(name, { data: { mode: "web" } }, { parent: this });
                new k8s.core.v1.Secret(name, { stringData: { pw: new pulumi.Config().requireSecret("password") } },
                                       { parent: this, dependsOn: [cm] });
            }
        }
        new Web("shop");
        """))
    by_name = {(r.type, r.name): r for r in run.resources}
    stack = by_name[("pulumi:pulumi:Stack", "p-dev")]
    web = by_name[("acme:web:Web", "shop")]
    cm = by_name[("kubernetes:core/v1:ConfigMap", "shop")]
    secret = by_name[("kubernetes:core/v1:Secret", "shop")]
    assert web.parent == stack.urn and not web.custom and cm.parent == web.urn and cm.custom
    assert cm.urn == "urn:pulumi:dev::p::acme:web:Web$kubernetes:core/v1:ConfigMap::shop"  # as the engine
    assert secret.dependencies == (cm.urn,)
    assert cm.inputs["metadata"]["name"].startswith("shop-")  # the provider's auto-name
    assert isinstance(secret.inputs["stringData"], Secret) and reveal(secret.inputs)["stringData"] == {"pw": PASSWORD}
    assert cm.source == (str(run.program_dir / "index.ts"), 6)  # the TypeScript line, not the transpiled one
    assert run.main == tmp_path / "app"  # package.json's or index's entry, as the CLI's "."


def test_a_javascript_program_in_main_with_typescript_off(tmp_path):
    app = node_project(tmp_path, """\
        const k8s = require("@pulumi/kubernetes");
        new k8s.core.v1.ConfigMap("cm", { metadata: { name: "cm" }, data: { a: "b" } });
        """, main="src/app.js")
    (app / "Pulumi.yaml").write_text("name: p\nmain: src/app.js\nruntime:\n  name: nodejs\n  options:\n"
                                     "    typescript: false\n")
    run = run_program(app)
    [cm] = [r for r in run.resources if r.name == "cm"]
    assert cm.source == (str(app / "src" / "app.js"), 2) and run.main == app / "src" / "app.js"


def test_yaml_v2_components_are_expanded_by_the_same_host(tmp_path):
    run = run_program(node_project(tmp_path, """\
        new k8s.yaml.v2.ConfigGroup("group", { yaml: `
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: from-yaml}
        data: {a: b}
        ` });
        """))
    [child] = [r for r in run.resources if r.type == "kubernetes:core/v1:ConfigMap"]
    assert child.name == "group:default/from-yaml" and child.parent.endswith("::group") and child.custom
    assert child.inputs["metadata"] == {"name": "from-yaml", "namespace": "default"}  # as the provider would


def test_a_helm_chart_is_rendered_by_the_real_helm(tmp_path):
    chart = FIXTURES / "charts" / "webapp"
    run = run_program(node_project(tmp_path, f"""\
        new k8s.helm.v4.Chart("web", {{ chart: {json.dumps(str(chart))}, namespace: "shop" }});
        """))
    kinds = {r.inputs.get("kind") for r in run.resources if r.parent.endswith("::web")}
    assert {"StatefulSet", "PersistentVolumeClaim", "Service"} <= kinds  # the chart's stateful defaults


# ---- errors, as the CLI shows them ---------------------------------------------------------------

def test_a_failure_shows_the_message_and_the_programs_own_frames(tmp_path):
    app = node_project(tmp_path, 'import { fail } from "./lib";\nfail("no replicas");\n')
    (app / "lib.ts").write_text('export function fail(why: string): never {\n    throw new Error(`bad: ${why}`);\n}\n')
    text = str(failure(app))
    assert "failed with an unhandled exception:" in text and "Error: bad: no replicas" in text
    assert f"{app}/lib.ts:2:" in text and f"{app}/index.ts:4:" in text  # TypeScript lines
    assert "node_modules" not in text and "node_host.js" not in text and "node:internal" not in text


def test_a_type_error_is_reported_as_typescript_reports_it(tmp_path):
    text = str(failure(node_project(tmp_path, 'const replicas: number = "two";\n')))
    assert "Unable to compile TypeScript" in text and "TS2322" in text and "index.ts(3," in text


@pytest.mark.parametrize("body, expected", [
    ("process.exit(3);\n", "the program exited with code 3"),
    ('pulumi.log.error("the stack is misconfigured");\n', "the program logged errors:\nthe stack is misconfigured"),
    ('throw new pulumi.RunError("nothing to deploy here");\n', "\nnothing to deploy here"),
])
def test_exits_logged_errors_and_run_errors_fail(tmp_path, body, expected):
    assert expected in str(failure(node_project(tmp_path, body)))


def test_reading_secure_config_of_another_provider_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_P_TOKEN", raising=False)
    stack = "secretsprovider: awskms://alias/pulumi\nconfig:\n  p:token:\n    secure: v1:AAAA\n"
    app = node_project(tmp_path, 'new pulumi.Config().require("token");\n', stack=stack)
    assert str(failure(app)).splitlines() == [
        "config p:token is encrypted by the awskms secrets provider (secretsprovider: awskms://alias/pulumi), "
        "which only the Pulumi CLI can reach: give its value as PULUMI_CONFIG_P_TOKEN in the gate's environment"]
    monkeypatch.setenv("PULUMI_CONFIG_P_TOKEN", "from-the-environment")
    run = run_program(node_project(tmp_path / "again", """\
        new k8s.core.v1.ConfigMap("cm", { data: { t: new pulumi.Config().require("token") } });
        """, stack=stack))
    assert "from-the-environment" in run.secrets()


def test_missing_packages_and_a_missing_node_fail_with_the_remedy(tmp_path, monkeypatch):
    app = node_project(tmp_path, "", packages=False)
    assert "run `npm install` (or `npm ci`) in" in str(failure(app))
    (app / "node_modules").symlink_to(TYPESCRIPT / "node_modules", target_is_directory=True)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "node is not on PATH" in str(failure(app))


# ---- secrets never shown -------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    # read as a secret once, then as the plain value
    'const config = new pulumi.Config();\nconfig.requireSecret("password");\nconst pw = config.require("password");\n'
    'console.log(`pw=${pw}`);\nthrow new Error(`bad ${pw}`);\n',
    'pulumi.secret("made-secret-in-js-77").apply(v => { console.error(v); pulumi.log.warn(v); throw new Error(v); });\n',
    'const s = pulumi.secret(Promise.resolve("made-secret-in-js-77"));\n'
    's.apply(v => { throw new Error(`resolved ${v}`); });\n',
], ids=["config-then-throw", "pulumi.secret-in-apply", "pulumi.secret-of-a-promise"])
def test_a_secret_never_shows_in_the_programs_error_logs_or_output(tmp_path, body):
    said = everything_said(failure(node_project(tmp_path, body)))
    assert PASSWORD not in said and "made-secret-in-js-77" not in said
    assert "<redacted>" in said


# ---- nothing the program started outlives the run -------------------------------------------------

def alive(token: str) -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if token in " ".join(p.info["cmdline"] or [])]


def daemon(token: str) -> str:
    return (f'import * as child_process from "child_process";\n'
            f'child_process.spawn("setsid", ["sleep", "{token}"], {{ detached: true, stdio: "ignore" }}).unref();\n')


def test_a_daemon_the_program_starts_ends_with_the_run(tmp_path):
    token = f"778.{uuid.uuid4().int % 10**6}"
    run_program(node_project(tmp_path, daemon(token)))
    assert alive(token) == []


def test_a_program_past_its_deadline_ends_with_everything_it_started(tmp_path):
    token = f"778.{uuid.uuid4().int % 10**6}"
    err = failure(node_project(tmp_path, daemon(token) + "setInterval(() => undefined, 1000);\n"), timeout=20)
    assert "did not finish within 20s" in str(err)
    assert alive(token) == [] and not alive(str(tmp_path / "app"))
    assert os.environ.get("PULUMI_CONFIG") is None  # the config went over stdin, not the gate's environment
