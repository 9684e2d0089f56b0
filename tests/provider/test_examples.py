"""The non-Python examples build the reference stack: examples/yaml's components, evaluated as Pulumi YAML
evaluates them and constructed through the provider, register what the Python reference stack
registers; examples/typescript/components type-checks (tsc, @pulumi/pulumi from npm) against the schema and
makes the same calls; both examples' stack config is the reference stack's."""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from stateless_pack.gate.program.runner import run_program
from stateless_pack.gate.program.values import Secret
from support.paths import REPO
from support.provider_harness import OutputValue, unwire
from support.reference_stack import CONFIG, STACK, children, python_component
from support.schema_typescript import declaration, tsconfig

EXAMPLES = REPO / "examples"
WHOLE = re.compile(r"^\$\{([A-Za-z][\w.-]*)\}$")
PART = re.compile(r"\$\{([A-Za-z][\w.-]*)\}")


def stack_config(folder) -> tuple[str, dict]:
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())["name"]
    values = yaml.safe_load((folder / f"Pulumi.{STACK}.yaml").read_text())["config"]
    return project, {key.split(":", 1)[1]: value for key, value in values.items() if key.startswith(project + ":")}


class YamlProgram:
    """Pulumi YAML's evaluation of what examples/yaml uses: typed config (secret ones as secrets),
    `${config}` and `${resource.output}` as whole values, `${resource}` in dependsOn, `${...}` inside
    strings. The package's resources go to the provider as the engine sends them (checked against the
    schema first, as the YAML engine's type checker does); others get the URN the engine gives them.
    Any other expression is an error, never a guess."""

    def __init__(self, folder, provider, monitor, schema: dict):
        self.program = yaml.safe_load((folder / "Pulumi.yaml").read_text())
        self.provider, self.monitor, self.schema = provider, monitor, schema
        _, values = stack_config(folder)
        self.values: dict = {}
        for key, declared in self.program["config"].items():
            value = int(values[key]) if declared["type"] == "integer" else values[key]
            self.values[key] = Secret(value) if declared.get("secret") else value
        self.urns: dict = {}
        self.results: dict = {}
        self.tokens = {key: resource["type"] for key, resource in self.program["resources"].items()}

    def run(self) -> dict:
        for key, resource in self.program["resources"].items():
            name = resource.get("name", key)
            depends = [self._resource(ref) for ref in resource.get("options", {}).get("dependsOn", [])]
            if resource["type"] in self.schema["resources"]:
                self._check(resource["type"], resource.get("properties", {}))
                result = self.provider.construct(self.monitor, resource["type"], name,
                                                 self.value(resource.get("properties", {})),
                                                 dependencies=tuple(depends))
                self.urns[key], self.results[key] = result.urn, result
            else:
                self.urns[key] = self.monitor.urn(resource["type"], name)
        return {key: self.interpolated(text) for key, text in self.program["outputs"].items()}

    def _check(self, token: str, properties: dict) -> None:
        declared = self.schema["resources"][token]
        assert set(properties) <= set(declared["inputProperties"]), (token, set(properties))
        assert set(declared["requiredInputs"]) <= set(properties), (token, declared["requiredInputs"])

    def _resource(self, ref: str) -> str:
        return self.urns[WHOLE.match(ref)[1]]

    def _reference(self, path: str):
        head, _, output = path.partition(".")
        if not output:
            return self.values[head]
        result = self.results[head]
        assert output in self.schema["resources"][self.tokens[head]]["properties"], path
        return OutputValue(result.state[output], (result.urn,))

    def value(self, value):
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str) and WHOLE.match(value):
            return self._reference(WHOLE.match(value)[1])
        assert not isinstance(value, str) or "${" not in value, f"unsupported expression {value!r}"
        return value

    def interpolated(self, text: str):
        if WHOLE.match(text):
            found = self._reference(WHOLE.match(text)[1])
            return found.value if isinstance(found, OutputValue) else found
        return PART.sub(lambda m: str(self._reference(m[1])), text)


@pytest.fixture(scope="module")
def python_stack():
    return run_program(REPO, stack=STACK)


def test_the_yaml_program_builds_the_reference_stack_through_the_provider(provider, monitor, python_stack):
    schema = provider.schema()
    program = YamlProgram(EXAMPLES / "yaml", provider, monitor, schema)
    outputs = program.run()
    assert sorted(program.results) == ["sessions", "uploads", "web"]
    for key, result in program.results.items():
        from_yaml = children(monitor.registrations, result.urn)
        from_python = children(python_stack.resources, python_component(python_stack, key).urn)
        assert from_yaml and sorted(from_yaml) == sorted(from_python), key
        assert all(unwire(inputs) == unwire(from_python[k]) for k, inputs in from_yaml.items()), key
    assert outputs == {"url": f"https://{CONFIG['host']}", "service": "web.shop.svc.cluster.local",
                       "session_store_sentinels": "sessions-sentinel.shop.svc.cluster.local:26379",
                       "bucket_config_map": "uploads"}


@pytest.mark.parametrize("example", ["typescript/components", "yaml"])
def test_the_examples_stack_config_is_the_reference_stacks(example):
    _, values = stack_config(EXAMPLES / example)
    assert values == CONFIG


def test_the_yaml_programs_secret_config_is_the_one_the_reference_stack_reads_as_a_secret():
    program = yaml.safe_load((EXAMPLES / "yaml" / "Pulumi.yaml").read_text())
    assert [k for k, v in program["config"].items() if v.get("secret")] == ["redisPassword"]
    assert 'config.require_secret("redisPassword")' in (REPO / "__main__.py").read_text()


# ---- examples/typescript: type-checked against the schema (the SDK itself needs the Pulumi CLI) ---------------

TYPESCRIPT = EXAMPLES / "typescript" / "components"
NODE_MODULES = EXAMPLES / "typescript" / "node_modules"  # the npm workspace's, shared by its examples


def tsc(tmp_path, program: str | None = None) -> subprocess.CompletedProcess:
    """`tsc --noEmit` over examples/typescript/components (or `program` in its place) with `@pulumi/stateless-pack`
    declared from provider/schema.json (tests/support/schema_typescript.py)."""
    schema = json.loads((REPO / "provider" / "schema.json").read_text())
    (tmp_path / "stateless-pack.d.ts").write_text(declaration(schema))
    example = TYPESCRIPT
    if program is not None:  # a variant next to the real one, so that it resolves the same node_modules
        example = tmp_path / "example"
        example.mkdir()
        (example / "index.ts").write_text(program)
        (example / "tsconfig.json").write_text((TYPESCRIPT / "tsconfig.json").read_text())
        (example / "node_modules").symlink_to(NODE_MODULES)
    config = tsconfig(example, tmp_path / "stateless-pack.d.ts", "@pulumi/stateless-pack")
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    compiler = NODE_MODULES / ".bin" / "tsc"
    assert compiler.exists(), "examples/typescript/node_modules is missing: `make node-packages` (make test runs it)"
    return subprocess.run([str(compiler), "--noEmit", "-p", str(tmp_path / "tsconfig.json")],
                          capture_output=True, text=True, timeout=300)


def test_the_typescript_example_type_checks_against_the_schema(tmp_path):
    done = tsc(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("change,error", [
    ("sessionStore: sessions.connection", "sessionStore: sessions"),           # the component itself: Python only
    ('replicas: config.requireNumber("replicas")', 'replicas: config.require("replicas")'),  # a string
    ("tlsSecretName:", "tlsSecret:"),                                          # no such property
], ids=["component-instead-of-connection", "string-replicas", "unknown-property"])
def test_a_typescript_program_that_misuses_the_schema_does_not_type_check(tmp_path, change, error):
    program = (TYPESCRIPT / "index.ts").read_text()
    assert change in program
    done = tsc(tmp_path, program.replace(change, error))
    assert done.returncode != 0 and "index.ts" in done.stdout, done.stdout + done.stderr


def test_the_typescript_example_builds_what_the_yaml_one_builds():
    """Same components, names and arguments (the YAML one is constructed through the provider above)."""
    source = (TYPESCRIPT / "index.ts").read_text()
    program = yaml.safe_load((EXAMPLES / "yaml" / "Pulumi.yaml").read_text())
    for key, resource in program["resources"].items():
        if resource["type"].startswith("stateless-pack:index:"):
            component = resource["type"].rsplit(":", 1)[-1]
            assert f'new statelessPack.{component}("{key}", {{' in source
            for prop in resource["properties"]:
                assert re.search(rf"\b{prop}:", source), (key, prop)
    for output in program["outputs"]:
        assert f"export const {output} =" in source
