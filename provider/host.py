"""The component provider: the schema the SDK infers from the served components, completed from their
dataclasses, and Construct for each, an invalid argument coming back as the provider's error.

The SDK's `ComponentProvider` infers the schema (`component_provider_host` is that class plus the
gRPC server `serve` starts). What it misses, the dataclasses say: a field with a default is optional
(its default named in the description), and an inherited field's docstring is that of the class
that declares it. Construct resolves what other resources published (`inputs.resolved`), builds
the argument dataclasses and constructs the component under the schema's type token; a
`ComponentArgumentError` becomes an `InputPropertiesError` with the same message, which the SDK
returns as INVALID_ARGUMENT rather than as a Python traceback.
"""
import asyncio
import dataclasses
import inspect
import json
import re
import sys
from importlib import metadata
from typing import Any, Optional

import pulumi
from pulumi.errors import InputPropertiesError
from pulumi.provider import main
from pulumi.provider.experimental.analyzer import Analyzer, PropertyDefinition
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.schema import generate_schema
from pulumi.provider.experimental.util import camel_case
from pulumi.provider.provider import ConstructResult

from stateless_pack.components.validation import ComponentArgumentError
from stateless_pack.provider.inputs import arguments, resolved
from stateless_pack.provider.served import PACKAGE, SERVED


_QUOTED_NAME = re.compile(r"`([a-z][a-z0-9]*(?:[._][a-z0-9]+)*_[a-z0-9]+(?:[._][a-z0-9]+)*)`")


def version() -> str:
    return metadata.version("stateless-pack")


class PavedRoadProvider(ComponentProvider):
    """Application, RedisSessionStore and ObjectBucket, as the package `stateless-pack`."""

    def __init__(self) -> None:
        super().__init__(list(SERVED), PACKAGE, None, version())
        docs = Analyzer(PACKAGE)  # a fresh one: the SDK's caches docstrings by class name
        for served in SERVED:
            definition = self._component_defs[served.__name__]
            _complete(definition.inputs, definition.inputs_mapping, _args_class(served), docs)
            _complete(definition.outputs, definition.outputs_mapping, served, docs)
            definition.description = _prose(inspect.cleandoc(definition.description or ""))
        for type_def in self._type_defs.values():
            _complete(type_def.properties, type_def.properties_mapping, type_def.python_type, docs)
            type_def.description = _prose(inspect.cleandoc(type_def.description or ""))
        self.schema = json.dumps(generate_schema(PACKAGE, version(), None, self._component_defs, self._type_defs,
                                                 self._dependencies).to_json())

    def construct(self, name: str, resource_type: str, inputs: dict,
                  options: Optional[pulumi.ResourceOptions] = None) -> ConstructResult:
        self.validate_resource_type(self._name, resource_type)
        served = self._components[resource_type.rsplit(":", maxsplit=1)[-1]]
        definition = self._component_defs[served.__name__]
        built = asyncio.ensure_future(self._build(served, name, inputs, options))
        state = {key: _output_of(built, lambda instance, key=key: self.get_state(instance, definition).get(key))
                 for key in definition.outputs}
        return ConstructResult(urn=_urn_of(built, state), state=state)

    async def _build(self, served: type, name: str, given: dict, options) -> pulumi.ComponentResource:
        definition = self._component_defs[served.__name__]
        given = {key: await resolved(value, definition.inputs[key], self.get_type_definition)
                 if key in definition.inputs else value for key, value in given.items()}
        args = arguments(_args_class(served), self.map_inputs(given, definition))
        try:
            return served(name, args, options)
        except ComponentArgumentError as e:
            # no property paths: the message names the argument (the SDK needs the list to send a status)
            raise InputPropertiesError(str(e), []) from None


def _args_class(component: type) -> type:
    return inspect.get_annotations(component.__init__)["args"]


async def _urn_of(built: asyncio.Future, state: dict) -> str:
    try:
        instance = await built
    except BaseException:
        for pending in state.values():
            pending.close()  # never awaited: the error is the answer
        raise
    return await instance.urn.future()


async def _output_of(built: asyncio.Future, pick) -> Any:
    return pick(await built)


def _complete(props: dict[str, PropertyDefinition], mapping: dict[str, str], owner: type, docs: Analyzer) -> None:
    """Descriptions of inherited fields, and dataclass fields with a default optional (the default described)."""
    fields = {f.name: f for f in dataclasses.fields(owner)} if dataclasses.is_dataclass(owner) else {}
    for key, prop in props.items():
        py_name = mapping[key]
        if not prop.description:
            declaring = next(c for c in owner.__mro__ if py_name in inspect.get_annotations(c))
            prop.description = docs.get_docstring(declaring, py_name)
        _tidy(prop)
        field = fields.get(py_name)
        if field is None or (field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING):
            continue
        prop.optional = True
        if isinstance(field.default, (str, int, float, bool)):
            prop.description = f"{prop.description} Default: `{json.dumps(field.default)}`."


def _tidy(prop: Optional[PropertyDefinition]) -> None:
    """A property's description on one line, in the schema's names; the same for its items and values."""
    if prop is not None:
        prop.description = _prose(" ".join((prop.description or "").split())) or None
        _tidy(prop.items)
        _tidy(prop.additional_properties)


def _prose(text: str) -> str:
    """`snake_case` names quoted in a docstring as the schema spells them (`camelCase`), for every language."""
    return _QUOTED_NAME.sub(lambda m: "`" + ".".join(camel_case(part) for part in m[1].split(".")) + "`", text)


def serve() -> None:
    """Serve the components until the engine stops the process (prints the port first)."""
    main(PavedRoadProvider(), sys.argv[1:])
