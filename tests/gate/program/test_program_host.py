"""gate/program/: how a program runs under the gate: its secrets known before anything it says is shown,
its errors as the Pulumi CLI shows them, its logs and output kept, each resource's source line, and
nothing it started left running."""
from __future__ import annotations

import json
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from stateless_pack.gate.program.diagnostics import INFO, STDERR, WARNING
from stateless_pack.gate.program.runner import run_program
from stateless_pack.gate.program.values import Secret, reveal
from support.program_runs import everything_said, failure

PASSWORD = "throwaway-dev-pw-123"
SHORT = "pw9!"


def project(tmp_path: Path, body: str, config: dict | None = None, files: dict | None = None) -> Path:
    """A project whose stack file holds `config` as plain values (as the reference stack does)."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (app / "Pulumi.dev.yaml").write_text(
        "config:\n" + "".join(f"  p:{k}: {json.dumps(v)}\n" for k, v in (config or {}).items()) if config else "")
    (app / "__main__.py").write_text(textwrap.dedent(body))
    for name, text in (files or {}).items():
        (app / name).write_text(textwrap.dedent(text))
    return app


# ---- secrets: known before the program's output is shown -------------------------------------------

@pytest.mark.parametrize("body", [
    # the value read with require_secret, then raised as the plain config value
    """\
    import pulumi
    config = pulumi.Config()
    password = config.require_secret("password")
    raise ValueError(f"bad password {config.require('password')!r}")
    """,
    # raised from an apply
    """\
    import pulumi
    pulumi.Config().require_secret("password").apply(lambda p: (_ for _ in ()).throw(ValueError(f"bad {p}")))
    """,
    # Output.secret in an apply before any resource uses it, printed and logged first
    """\
    import pulumi, sys
    def check(value):
        print("checking", value)
        print("stderr too", value, file=sys.stderr)
        pulumi.log.warn(f"about to fail on {value}")
        raise RuntimeError(f"rejected {value!r}")
    pulumi.Output.secret("throwaway-dev-pw-123").apply(check)
    """,
    # a resource output marked secret with additional_secret_outputs
    """\
    import pulumi, pulumi_kubernetes as k8s
    cm = k8s.core.v1.ConfigMap("cm", metadata={"name": "cm"}, data={"pw": "throwaway-dev-pw-123"},
                               opts=pulumi.ResourceOptions(additional_secret_outputs=["data"]))
    cm.data.apply(lambda d: (_ for _ in ()).throw(ValueError(f"bad data {d}")))
    """,
], ids=["require_secret-then-raise", "raise-in-apply", "Output.secret-in-apply", "additional_secret_outputs"])
def test_a_secret_never_shows_in_the_programs_error_logs_or_output(tmp_path, body):
    err = failure(project(tmp_path, body, {"password": PASSWORD}))
    said = everything_said(err)
    assert PASSWORD not in said and "throwaway" not in said
    assert "<redacted>" in said


def test_a_secret_the_program_passes_on_as_a_plain_value_stays_secret(tmp_path):
    run = run_program(project(tmp_path, """\
        import pulumi, pulumi_kubernetes as k8s
        config = pulumi.Config()
        config.require_secret("password")
        k8s.core.v1.ConfigMap("cm", metadata={"name": "cm"}, data={"pw": config.require("password"),
                                                                     "dsn": f"user:{config.require('password')}@db"})
        """, {"password": PASSWORD}))
    [cm] = [r for r in run.resources if r.name == "cm"]
    assert cm.inputs["data"] == {"pw": Secret(PASSWORD), "dsn": Secret(f"user:{PASSWORD}@db")}
    assert PASSWORD in run.secrets()


def test_ordinary_values_next_to_a_secret_are_not_taken_for_secrets(tmp_path):
    """The SDK marks a whole structure secret when one leaf is: only the leaf is a secret value."""
    run = run_program(project(tmp_path, """\
        import pulumi, pulumi_kubernetes as k8s
        k8s.apps.v1.Deployment("web", metadata={"name": "web"}, spec={"replicas": 2, "selector": {}, "template": {
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "env": [{"name": "PW", "value": pulumi.Config().require_secret("password")}]}]}}})
        """, {"password": PASSWORD}))
    assert set(run.announced) == {PASSWORD}


# ---- failures: what the Pulumi CLI shows --------------------------------------------------------------

@pytest.mark.parametrize("body, files, last_line, user_line", [
    ("import helper\nhelper.fail()\n", {"helper.py": "def fail():\n    raise ValueError('boom')\n"},
     "ValueError: boom", "helper.py\", line 2, in fail"),
    ("import pulumi\nimport not_installed_anywhere\n", {}, "ModuleNotFoundError: No module named 'not_installed_anywhere'",
     "__main__.py\", line 2, in <module>"),
    ("import pulumi\nx = (1,\ndef f(: pass\n", {}, "SyntaxError: invalid syntax", "__main__.py\", line 3"),
    ("from stateless_pack.components import Application, ApplicationArgs\n"
     "Application('web', ApplicationArgs(namespace='Bad_NS', image='x'))\n", {},
     "ComponentArgumentError: namespace 'Bad_NS' is not a valid DNS-1123 label", "__main__.py\", line 2, in <module>"),
    ("import pulumi\npulumi.Output.from_input(1).apply(lambda v: 1 / 0)\n", {}, "ZeroDivisionError: division by zero",
     "__main__.py\", line 2, in <lambda>"),
], ids=["raise", "missing-module", "syntax-error", "component-argument", "in-apply"])
def test_a_failure_shows_the_programs_own_frames_and_the_message(tmp_path, body, files, last_line, user_line):
    text = str(failure(project(tmp_path, body, files=files)))
    assert user_line in text
    assert last_line in text
    for ours in ("supervisor.py", "child.py", "asyncio", "runpy", "pulumi/runtime", "pulumi/output.py",
                 "components/validation.py", "stateless_pack_program_child"):
        assert ours not in text, text
    assert len(text.splitlines()) <= 8, text


def test_a_run_error_shows_its_message_alone_as_the_cli_does(tmp_path):
    text = str(failure(project(tmp_path, "import pulumi\nraise pulumi.RunError('nothing to deploy here')\n")))
    assert text.splitlines()[1:] == ["nothing to deploy here"]


def test_the_gates_own_refusal_is_one_line_with_the_remedy(tmp_path):
    app = project(tmp_path, "import pulumi\npulumi.Config().require('token')\n")
    (app / "Pulumi.dev.yaml").write_text("config:\n  p:token:\n    secure: v1:AAAA\n")
    text = str(failure(app))
    assert text.splitlines() == [
        "config p:token is encrypted by Pulumi Cloud's secrets provider (the stack file has no encryptionsalt "
        "or secretsprovider), which only the Pulumi CLI can reach: give its value as PULUMI_CONFIG_P_TOKEN in "
        "the gate's environment"]


# ---- what the program says --------------------------------------------------------------------------

def test_prints_and_logs_are_kept_as_the_cli_shows_them(tmp_path):
    run = run_program(project(tmp_path, """\
        import sys, pulumi, pulumi_kubernetes as k8s
        print("hello from print")
        print("to stderr", file=sys.stderr)
        pulumi.log.info("an info")
        pulumi.log.warn("a warning")
        pulumi.log.debug("a debug message")
        pulumi.log.info("about to", ephemeral=True)
        cm = k8s.core.v1.ConfigMap("cm", metadata={"name": "cm"})
        pulumi.log.warn("about the config map", resource=cm)
        """))
    stack = "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"
    cm = "urn:pulumi:dev::p::kubernetes:core/v1:ConfigMap::cm"
    assert sorted(run.diagnostics) == sorted([
        (INFO, "an info", stack), (WARNING, "a warning", stack), (WARNING, "about the config map", cm),
        (INFO, "hello from print", stack), (STDERR, "to stderr", stack)])


def test_a_logged_error_fails_the_run_and_is_kept(tmp_path):
    err = failure(project(tmp_path, "import pulumi\npulumi.log.error('bad input')\n"))
    assert "bad input" in str(err)
    assert [(d.severity, d.message) for d in err.diagnostics] == [("error", "bad input")]


# ---- source positions -----------------------------------------------------------------------------------

def test_each_resource_carries_the_line_of_the_project_code_that_made_it(tmp_path):
    folder = project(tmp_path, """\
        import pulumi, pulumi_kubernetes as k8s
        import shapes
        k8s.core.v1.ConfigMap("top", metadata={"name": "top"})
        shapes.config_map("helper")
        k8s.yaml.v2.ConfigGroup("group", yaml="apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: grouped}\\n")
        from stateless_pack.components import ObjectBucket, ObjectBucketArgs
        ObjectBucket("uploads", ObjectBucketArgs(namespace="shop", storage_class="dit-s3"))
        """, files={"shapes.py": """\
        import pulumi_kubernetes as k8s


        def config_map(name):
            return k8s.core.v1.ConfigMap(name, metadata={"name": name})
        """})
    run = run_program(folder)
    # absolute files (gate/source_positions.py decides what is the user's), here relative to compare
    sources = {r.name: r.source and (Path(r.source[0]).relative_to(folder).as_posix(), r.source[1])
               for r in run.resources}
    assert sources["top"] == ("__main__.py", 3)
    assert sources["helper"] == ("shapes.py", 5)
    assert sources["group"] == ("__main__.py", 5)
    assert sources["group:default/grouped"] == ("__main__.py", 5)  # a yaml/v2 child: its component's line
    assert sources["p-dev"] is None  # the stack: no line of the program made it
    assert sources["uploads"] == ("__main__.py", 7)
    assert all(sources[r.name] == ("__main__.py", 7) for r in run.resources if r.parent.endswith("::uploads"))


# ---- nothing the program started outlives the run ---------------------------------------------------------

def alive(token: str) -> list:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if token in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def daemons(token: str) -> str:
    return (f'import subprocess\nsubprocess.Popen(["setsid", "sleep", "{token}"])  # a session of its own\n'
            f'subprocess.Popen("setsid sleep {token} &", shell=True)  # and orphaned at once\n')


def test_a_daemon_the_program_starts_ends_with_the_run(tmp_path):
    token = f"777.{uuid.uuid4().int % 10**6}"
    run_program(project(tmp_path, daemons(token) + "import time\ntime.sleep(0.5)\n"))
    assert alive(token) == []


def test_a_daemon_ends_when_the_program_runs_past_its_deadline(tmp_path):
    token = f"777.{uuid.uuid4().int % 10**6}"
    err = failure(project(tmp_path, daemons(token) + "import time\ntime.sleep(600)\n"), timeout=3)
    assert "did not finish within 3s" in str(err)
    assert alive(token) == []


# ---- a program that writes hundreds of megabytes ------------------------------------------------------------

def test_huge_output_and_a_huge_error_end_the_run_at_once_and_bounded(tmp_path):
    app = project(tmp_path, """\
        import sys
        chunk = "y" * (1 << 20)
        for _ in range(300):
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
        raise RuntimeError("x" * 50_000_000)
        """)
    started = time.monotonic()
    err = failure(app, timeout=120)
    assert time.monotonic() - started < 60
    assert len(str(err)) < 20_000 and "characters cut" in str(err)
    said = "\n".join(d.message for d in err.diagnostics)
    assert len(said) < 300_000 and "bytes cut" in said


def test_a_secret_cut_in_half_by_the_bound_does_not_show_either_half(tmp_path):
    """The message is cut where the secret stands: neither piece may remain."""
    secret = "S" * 30 + "-secret-value-" + "T" * 30
    body = f"""\
    import pulumi
    secret = pulumi.Output.secret({secret!r})
    raise ValueError(("a" * 8183) + {secret!r} + ("b" * 100_000))
    """
    said = everything_said(failure(project(tmp_path, body)))
    assert "SSSSSSSS" not in said and "-secret-value-" not in said


def test_revealed_inputs_are_unchanged_by_the_marking(tmp_path):
    run = run_program(project(tmp_path, """\
        import pulumi, pulumi_kubernetes as k8s
        pulumi.Config().require_secret("password")
        k8s.core.v1.ConfigMap("cm", metadata={"name": "cm"}, data={"pw": pulumi.Config().require("password")})
        """, {"password": PASSWORD}))
    [cm] = [r for r in run.resources if r.name == "cm"]
    assert reveal(cm.inputs)["data"] == {"pw": PASSWORD}
