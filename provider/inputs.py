"""Construct's inputs as the components' arguments: what came from other resources resolved where a
component needs plain data, nested objects made into the argument dataclasses.

An object-typed input that another resource published (an Application's `sessionStore`, the
`connection` output of a RedisSessionStore) arrives as an Output. The component decides what to
build from it (which environment variables, which labels), so its value is awaited first; fields
annotated `Input[...]` stay Outputs of it, keeping its dependencies and secrecy. A value not known
yet (a preview where the store is not known) is an error, never an empty object.
"""
import dataclasses
import inspect
from typing import Any, Mapping, Optional, Union, get_args, get_origin

import pulumi
from pulumi.errors import InputPropertiesError
from pulumi.provider.experimental.analyzer import PropertyDefinition, TypeDefinition, is_input


async def resolved(value: Any, prop: PropertyDefinition, type_of) -> Any:
    """`value` of a property whose type is one of the package's object types (or a list of them), with
    Outputs resolved; other values unchanged. `type_of(prop)` gives the TypeDefinition of a reference."""
    items = prop.items if prop.items is not None and prop.items.ref else None
    if not prop.ref and items is None:
        return value
    if isinstance(value, list) and items is not None:
        return [await resolved(v, items, type_of) for v in value]
    if not isinstance(value, pulumi.Output):
        return value
    if not await value.is_known():
        raise InputPropertiesError(
            "an argument that another resource publishes is not known yet (is that resource new in this "
            "preview?): pass the `connection` output of a RedisSessionStore or an ObjectBucket", [])
    plain = await value.future(with_unknowns=True)
    if items is not None:
        return [_keeping_inputs(value.apply(lambda v, i=i: v[i]), v, type_of(items)) for i, v in enumerate(plain)]
    return _keeping_inputs(value, plain, type_of(prop))


def _keeping_inputs(source: pulumi.Output, plain: Any, type_def: Optional[TypeDefinition]) -> Any:
    """The object `plain` (schema names) that `source` resolved to, its `Input[...]` fields as Outputs of `source`."""
    if type_def is None or not isinstance(plain, dict):
        return plain
    hints = annotations_of(type_def.python_type)
    out = dict(plain)
    for key, py_name in type_def.properties_mapping.items():
        if key in plain and is_input(hints[py_name]):
            out[key] = source.apply(lambda v, k=key: v[k])
    return out


def arguments(cls: type, mapped: Mapping[str, Any]) -> Any:
    """The SDK's mapped inputs (dicts with Python names) as an instance of the dataclass `cls`, nested
    dataclasses too, whole numbers as `int`; what is absent takes the field's default."""
    hints = annotations_of(cls)
    return cls(**{f.name: _argument(hints[f.name], mapped[f.name])
                  for f in dataclasses.fields(cls) if f.name in mapped})


def annotations_of(cls: type) -> dict:
    """Every annotation of `cls` and its bases, as written (`typing.get_type_hints` would try to
    evaluate the forward reference inside `pulumi.Input`)."""
    merged: dict = {}
    for c in reversed(cls.__mro__):
        merged.update(inspect.get_annotations(c))
    return merged


def _argument(hint: Any, value: Any) -> Any:
    options = get_args(hint) if get_origin(hint) is Union else (hint,)
    if int in options and isinstance(value, float) and value.is_integer():
        return int(value)  # numbers cross the wire as doubles (the SDK's mapping converts, then keeps the double)
    target = next((t for t in options if dataclasses.is_dataclass(t)), None)
    return arguments(target, value) if target is not None and isinstance(value, dict) else value
