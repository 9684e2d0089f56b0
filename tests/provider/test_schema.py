"""The provider's schema, asked for over gRPC as the engine asks (`GetSchema`, version 0): it is the
checked-in provider/schema.json, it is the components' own arguments and outputs (names, required
ones, defaults), and it describes every one of them with a type and documentation."""
from __future__ import annotations

import dataclasses
import inspect
import json
import sys

import pytest
from pulumi.provider.experimental.util import camel_case

from stateless_pack.provider.host import version
from stateless_pack.provider.inputs import annotations_of
from stateless_pack.provider.served import SERVED, type_token
from support.paths import REPO

sys.path.insert(0, str(REPO / "docs"))
from generate import SCHEMA_PATH, provider_schema  # noqa: E402

TYPES = "#/types/stateless-pack:index:"


@pytest.fixture(scope="module")
def schema(provider) -> dict:
    return provider.schema()


def _args_class(component: type) -> type:
    return inspect.get_annotations(component.__init__)["args"]


def _properties(schema: dict):
    """(where, name, property) for every input and output of every resource and every property of every type."""
    for token, resource in schema["resources"].items():
        for section in ("inputProperties", "properties"):
            for name, prop in resource[section].items():
                yield f"{token} {section}", name, prop
    for token, type_ in schema["types"].items():
        for name, prop in type_["properties"].items():
            yield token, name, prop


def test_the_checked_in_schema_is_what_the_provider_answers(schema):
    assert schema == json.loads(SCHEMA_PATH.read_text(encoding="utf-8")), \
        "provider/schema.json is stale: run `python docs/generate.py`"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == provider_schema()
    assert (schema["name"], schema["version"]) == ("stateless-pack", version())


def test_every_argument_and_output_has_a_type_and_a_description(schema):
    seen = 0
    for where, name, prop in _properties(schema):
        assert prop.get("description", "").strip(), f"{where} {name} has no description"
        assert "type" in prop or "$ref" in prop, f"{where} {name} has no type"
        seen += 1
    assert seen > 60
    for token, entry in {**schema["resources"], **schema["types"]}.items():
        assert entry.get("description", "").strip(), f"{token} has no description"


@pytest.mark.parametrize("component", SERVED, ids=lambda c: c.__name__)
def test_the_inputs_are_the_components_arguments_required_only_without_a_default(schema, component):
    resource = schema["resources"][type_token(component)]
    fields = dataclasses.fields(_args_class(component))
    assert set(resource["inputProperties"]) == {camel_case(f.name) for f in fields}
    assert resource["requiredInputs"] == sorted(
        camel_case(f.name) for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    for f in fields:
        if isinstance(f.default, (str, int, bool)) and f.default is not None:
            assert f"Default: `{json.dumps(f.default)}`" in resource["inputProperties"][camel_case(f.name)]["description"]


@pytest.mark.parametrize("component", SERVED, ids=lambda c: c.__name__)
def test_the_outputs_are_the_components_annotated_outputs(schema, component):
    outputs = {camel_case(name) for name in annotations_of(component) if not name.startswith("_")}
    assert set(schema["resources"][type_token(component)]["properties"]) == outputs


def test_what_crosses_from_another_resource_takes_an_output_and_the_rest_is_plain(schema):
    app = schema["resources"]["stateless-pack:index:Application"]["inputProperties"]
    assert app["sessionStore"]["$ref"] == TYPES + "SessionStoreConnection" and not app["sessionStore"].get("plain")
    assert app["buckets"]["items"]["$ref"] == TYPES + "BucketConnection" and not app["buckets"]["items"].get("plain")
    assert (app["replicas"]["type"], app["replicas"]["plain"]) == ("integer", True)
    assert (app["namespace"]["type"], app["namespace"]["plain"]) == ("string", True)
    store = schema["resources"]["stateless-pack:index:RedisSessionStore"]
    assert store["inputProperties"]["password"] == {
        "description": store["inputProperties"]["password"]["description"], "type": "string"}  # an Input: secrets pass
    assert store["properties"]["connection"]["$ref"] == TYPES + "SessionStoreConnection"
    assert {"host", "port", "sentinels", "masterName"} <= set(store["properties"])
    assert "password" not in store["properties"]
    bucket = schema["resources"]["stateless-pack:index:ObjectBucket"]
    assert bucket["properties"]["connection"]["$ref"] == TYPES + "BucketConnection"


def test_descriptions_name_properties_as_the_schema_spells_them(schema):
    app = schema["resources"]["stateless-pack:index:Application"]["inputProperties"]
    assert "`singleReplicaWaiver`" in app["replicas"]["description"]
    assert "single_replica_waiver" not in json.dumps(schema)
    assert "REDIS_PASSWORD_FILE" in app["secretsAs"]["description"]  # environment variables stay as they are
