"""`preview` of a passphrase stack: its `secure:` values decrypted, the program runs with them, and no
decrypted value reaches anything the gate prints or writes, also where the program passes it on as a
plain value or fails quoting it."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from stateless_pack.gate.cli import main
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.passphrase_stack import PassphraseStack
from support.typescript_examples import TYPESCRIPT

PASSPHRASE = "gate-test passphrase"
PASSWORD = "decrypted-db-password-77"   # read with require(): a plain value from there on
AFFINITY = "decrypted-affinity-cookie"  # quoted by the findings of no-sticky-edge
STACK = PassphraseStack(PASSPHRASE)


@pytest.fixture(autouse=True)
def passphrase(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)


def program(tmp_path: Path, body: str, runtime: str = "python") -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Pulumi.yaml").write_text(f"name: vault\nruntime: {runtime}\n")
    (app / "Pulumi.dev.yaml").write_text(STACK.file_text({
        "vault:dbPassword": STACK.secure(PASSWORD), "vault:cookie": STACK.secure(AFFINITY),
        "vault:host": "shop.example.org"}))
    if runtime == "nodejs":
        (app / "package.json").write_text('{"name": "vault", "private": true}')
        (app / "node_modules").symlink_to(TYPESCRIPT / "node_modules", target_is_directory=True)
        (app / "index.ts").write_text('import * as pulumi from "@pulumi/pulumi";\nimport * as k8s from "@pulumi/kubernetes";\n'
                                      "const config = new pulumi.Config();\n" + textwrap.dedent(body))
    else:
        (app / "__main__.py").write_text("import pulumi\nimport pulumi_kubernetes as k8s\n"
                                         "config = pulumi.Config()\n" + textwrap.dedent(body))
    return app


def outputs(tmp_path: Path) -> list[str]:
    return ["--out", str(tmp_path / "m"), "--json", str(tmp_path / "r.json"), "--sarif", str(tmp_path / "r.sarif"),
            "--junit", str(tmp_path / "r.xml"), "--state-export", str(tmp_path / "state.json")]


def everything_written(tmp_path: Path, out: str, err: str, app: Path) -> dict:
    texts = {"stdout": out, "stderr": err}
    texts.update({str(p): p.read_text(encoding="utf-8") for p in tmp_path.rglob("*")
                  if p.is_file() and app not in p.parents})
    return texts


PROGRAMS = {
    "python": """\
        password = config.require("dbPassword")
        print(f"connecting with {password}")
        pulumi.log.info(f"the password is {password}")
        k8s.core.v1.Secret("db", metadata={"name": "db", "namespace": "shop"}, string_data={"password": password})
        k8s.networking.v1.Ingress("edge", metadata={"name": "edge", "namespace": "shop", "annotations": {
            "nginx.ingress.kubernetes.io/session-cookie-name": config.require("cookie"),
            "nginx.ingress.kubernetes.io/affinity": "cookie", "note": f"pw={password}"}},
            spec={"rules": [{"host": config.require("host")}]})
        """,
    "nodejs": """\
        const password = config.require("dbPassword");
        console.log(`connecting with ${password}`);
        pulumi.log.info(`the password is ${password}`);
        new k8s.core.v1.Secret("db", { metadata: { name: "db", namespace: "shop" }, stringData: { password } });
        new k8s.networking.v1.Ingress("edge", { metadata: { name: "edge", namespace: "shop", annotations: {
            "nginx.ingress.kubernetes.io/session-cookie-name": config.require("cookie"),
            "nginx.ingress.kubernetes.io/affinity": "cookie", note: `pw=${password}` } },
            spec: { rules: [{ host: config.require("host") }] } });
        """,
}


@pytest.mark.parametrize("runtime", sorted(PROGRAMS))
def test_decrypted_values_run_the_program_and_never_reach_any_output(capsys, tmp_path, runtime):
    app = program(tmp_path, PROGRAMS[runtime], runtime)
    code = main(["preview", str(app), *outputs(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1, captured.err  # the sticky Ingress: the program ran with the decrypted values
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert any(f["rule"] == "no-sticky-edge" for f in findings)
    texts = everything_written(tmp_path, captured.out, captured.err, app)
    assert {"stdout", "stderr", str(tmp_path / "r.json"), str(tmp_path / "r.sarif"), str(tmp_path / "r.xml"),
            str(tmp_path / "state.json"), str(tmp_path / "m" / "secret_shop_db.yaml")} <= set(texts)
    for name, text in texts.items():
        for secret in (PASSWORD, AFFINITY, PASSPHRASE):
            assert secret not in text, f"{secret!r} leaked into {name}"
    state = json.loads((tmp_path / "state.json").read_text())
    assert PASSWORD not in json.dumps(state)


def test_a_program_failing_with_a_decrypted_value_does_not_show_it(capsys, tmp_path):
    app = program(tmp_path, 'raise ValueError(f"cannot log in with {config.require(\'dbPassword\')}")\n')
    code = main(["preview", str(app), "--out", str(tmp_path / "m")])
    captured = capsys.readouterr()
    assert code == 2 and "cannot log in with" in captured.err
    assert PASSWORD not in captured.err + captured.out


def test_a_wrong_passphrase_is_exit_2_with_one_line(capsys, tmp_path, monkeypatch):
    app = program(tmp_path, "")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not it")
    code = main(["preview", str(app), "--out", str(tmp_path / "m")])
    captured = capsys.readouterr()
    assert code == 2 and "incorrect passphrase" in captured.err
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err and "not it" not in captured.err


def test_no_passphrase_is_exit_2_naming_both_variables(capsys, tmp_path, monkeypatch):
    app = program(tmp_path, "")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    code = main(["preview", str(app), "--out", str(tmp_path / "m")])
    captured = capsys.readouterr()
    assert code == 2 and "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE" in captured.err
    assert len(captured.err.strip().splitlines()) == 1, captured.err
