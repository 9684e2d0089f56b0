"""A TypeScript declaration of the provider's schema, for type-checking examples/typescript offline.

It is NOT the SDK: `pulumi package add` generates that with the Pulumi CLI's code generator, which
no package registry ships. It declares what that SDK exposes to a program, derived from the schema
alone, in the shapes Pulumi's Node.js code generator gives them: a class per component
(`pulumi.Output<T>` outputs, `constructor(name, args, opts?: pulumi.ComponentResourceOptions)`), an
`<Name>Args` interface (plain properties as `T`, the others as `pulumi.Input<T>`), `types.input`
`<Type>Args` and `types.output` `<Type>` interfaces. A property the example uses that the schema
lacks, or a value of the wrong type, fails `tsc` as it would against the generated SDK.
"""
from __future__ import annotations

from typing import Any

_SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}


def _type(prop: dict, side: str) -> str:
    """`side`: "input" (arguments and input types) or "output"."""
    ref = prop.get("$ref", "")
    if ref == "pulumi.json#/Any":
        shown = "any"
    elif ref:
        name = ref.rsplit(":", 1)[-1]
        shown = f"types.input.{name}Args" if side == "input" else f"types.output.{name}"
    elif prop.get("type") == "array":
        shown = f"{_type(prop['items'], side)}[]"
    elif prop.get("type") == "object":
        shown = "{[key: string]: " + _type(prop.get("additionalProperties", {"$ref": "pulumi.json#/Any"}), side) + "}"
    else:
        shown = _SCALARS[prop["type"]]
    if side == "input" and not prop.get("plain"):
        shown = f"pulumi.Input<{shown}>"
    return shown


def _members(properties: dict, required: list, side: str, indent: str) -> list[str]:
    return [f"{indent}{name}{'' if name in required else '?'}: {_type(prop, side)};"
            for name, prop in properties.items()]


def declaration(schema: dict) -> str:
    """The `index.d.ts` of a module exporting the schema's components and types."""
    out = ['import * as pulumi from "@pulumi/pulumi";', "", "export declare namespace types {"]
    for side, suffix in (("input", "Args"), ("output", "")):
        out.append(f"    namespace {side} {{")
        for token, type_ in schema["types"].items():
            out.append(f"        interface {token.rsplit(':', 1)[-1]}{suffix} {{")
            out += _members(type_["properties"], type_.get("required", []), side, " " * 12)
            out.append("        }")
        out.append("    }")
    out.append("}")
    for token, resource in schema["resources"].items():
        name = token.rsplit(":", 1)[-1]
        required_outputs = resource.get("required", [])
        out += ["", f"export declare class {name} extends pulumi.ComponentResource {{",
                f"    static isInstance(obj: any): obj is {name};"]
        out += [f"    readonly {key}: pulumi.Output<{_type(prop, 'output')}"
                f"{'' if key in required_outputs else ' | undefined'}>;" for key, prop in resource["properties"].items()]
        args = "args" if resource.get("requiredInputs") else "args?"
        out += [f"    constructor(name: string, {args}: {name}Args, opts?: pulumi.ComponentResourceOptions);", "}",
                f"export interface {name}Args {{"]
        out += _members(resource["inputProperties"], resource.get("requiredInputs", []), "input", " " * 4)
        out.append("}")
    return "\n".join(out) + "\n"


def tsconfig(example_dir: Any, declaration_file: Any, module: str) -> dict:
    """A tsconfig that checks the example's files with `module` resolved to `declaration_file` and
    everything else from the example's own node_modules."""
    base = (example_dir / "tsconfig.json").resolve()
    return {"extends": str(base),
            "compilerOptions": {"noEmit": True, "baseUrl": str((example_dir / "node_modules").resolve()),
                                "paths": {module: [str(declaration_file.resolve())]}},
            "files": [str((example_dir / "index.ts").resolve())]}
