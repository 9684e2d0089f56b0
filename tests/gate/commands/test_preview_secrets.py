"""No secret value of a program in anything `stateless-pack preview` writes or prints: messages that
quote a value (any quoting, any length), key names of secret outputs, the program's own errors and
logs."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from stateless_pack.gate.cli import main
from support.isolation import isolated  # noqa: F401 - an autouse fixture

LONG = "it's\n\"sticky\"\\x"  # quotes, a newline, a backslash: repr() and JSON escape each differently
SHORT = "q7"
KEY_NAME = "hidden-key-name-5e1f"
TOKEN = "tok-3f9a-SECRET"



def program(tmp_path: Path, body: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Pulumi.yaml").write_text("name: secrets\nruntime: python\nconfig:\n"
                                     "  long: {type: string, secret: true}\n  short: {type: string, secret: true}\n"
                                     "  token: {type: string, secret: true}\n")
    (app / "Pulumi.dev.yaml").write_text(
        "config:\n" + "".join(f"  secrets:{k}: {json.dumps(v)}\n"
                              for k, v in (("long", LONG), ("short", SHORT), ("token", TOKEN))))
    (app / "__main__.py").write_text("import pulumi\nimport pulumi_kubernetes as k8s\n"
                                     "config = pulumi.Config()\n" + textwrap.dedent(body))
    return app


def everything_written(tmp_path: Path, out: str, err: str, skip: Path) -> dict:
    texts = {"stdout": out, "stderr": err}
    for path in tmp_path.rglob("*"):
        if path.is_file() and skip not in path.parents:
            texts[str(path)] = path.read_text(encoding="utf-8")
    return texts


def test_quoted_short_and_structured_secrets_never_reach_any_output(capsys, tmp_path):
    app = program(tmp_path, """\
        k8s.networking.v1.Ingress("edge", metadata={"name": "edge", "namespace": "shop", "annotations": {
            "nginx.ingress.kubernetes.io/upstream-hash-by": config.require_secret("short"),
            "haproxy.org/cookie-persistence": config.require_secret("long")}},
            spec={"rules": [{"host": "shop.example.org"}]})
        k8s.core.v1.Secret("keys", metadata={"name": "keys", "namespace": "shop"},
                           data=pulumi.Output.secret({"hidden-key-name-5e1f": "dmFsdWU="}))
        """)
    code = main(["preview", str(app), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json"),
                 "--sarif", str(tmp_path / "r.sarif"), "--junit", str(tmp_path / "r.xml"),
                 "--state-export", str(tmp_path / "state.json")])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    sticky = [f for f in json.loads((tmp_path / "r.json").read_text())["findings"] if f["rule"] == "no-sticky-edge"]
    assert [f["engines"] for f in sticky] == [["crossguard", "checkov"]] * 2  # one per annotation, both engines
    assert all("<redacted>" in f["message"] for f in sticky)
    texts = everything_written(tmp_path, captured.out, captured.err, skip=app)
    assert len(texts) >= 8
    for name, text in texts.items():
        for secret in (SHORT, KEY_NAME, LONG, repr(LONG)[1:-1], json.dumps(LONG)[1:-1], "sticky\\\""):
            assert secret not in text, f"{secret!r} leaked into {name}"
    assert "data: <redacted>" in (tmp_path / "m" / "secret_shop_keys.yaml").read_text()


@pytest.mark.parametrize("body", [
    'config.require_secret("token").apply(lambda t: pulumi.log.error(f"bad token {t}"))\n',
    'config.require_secret("token").apply(lambda t: (_ for _ in ()).throw(ValueError(f"rejected {t!r}")))\n',
    'import sys, os\nprint(config.require("token"), file=sys.stderr)\nsys.stderr.flush()\nos._exit(3)\n',
])
def test_a_programs_errors_and_logs_never_print_a_secret(capsys, tmp_path, body):
    app = program(tmp_path, body)
    code = main(["preview", str(app), "--out", str(tmp_path / "m")])
    captured = capsys.readouterr()
    assert code == 2 and "the program failed" in captured.err
    assert TOKEN not in captured.err and TOKEN not in captured.out
    assert "<redacted>" in captured.err


def test_the_programs_prints_and_logs_are_in_the_json_report_redacted(capsys, tmp_path):
    app = program(tmp_path, """\
        print("hello from the program")
        pulumi.log.warn("careful: " + config.require("token"))
        config.require_secret("token").apply(lambda t: pulumi.log.info(f"token is {t}"))
        k8s.core.v1.ConfigMap("c", metadata={"name": "c", "namespace": "shop"}, data={"a": "b"})
        """)
    main(["preview", str(app), "--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    said = json.loads((tmp_path / "r.json").read_text())["diagnostics"]
    messages = {(d["severity"], d["message"].strip()) for d in said}
    assert ("info", "hello from the program") in messages
    assert ("warning", "careful: <redacted>") in messages and ("info", "token is <redacted>") in messages
    assert all(d["urn"].startswith("urn:pulumi:dev::secrets::") for d in said)
    assert "hello from the program" in captured.err and TOKEN not in captured.err + captured.out
