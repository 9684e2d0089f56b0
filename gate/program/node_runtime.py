"""A Node.js project's program as the Pulumi CLI's nodejs language host runs it: node, the project's own @pulumi/pulumi, its entry point, TypeScript.

As pulumi-language-nodejs does (sdk/nodejs/cmd/pulumi-language-nodejs/main.go): `node` from PATH; the
program's folder is `main`'s when `main` names a file (the entry point is that file), `main` itself
when it names a folder, else the project's folder (the entry point is then ".": the SDK's `cmd/run`
reads package.json's `main` or `exports`, else index.js); `runtime.options` `typescript` (default true:
ts-node, with the project's tsconfig.json, and its own typescript and ts-node where it has them, else
the SDK's vendored ones), `tsconfig` (another tsconfig file) and `nodeargs`. The project's packages
are its own: one whose @pulumi/pulumi cannot be found from the program's folder (no `npm install`
yet), or a machine without `node`, is an error with the remedy, before anything runs.
"""
from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from stateless_pack.gate.program.project import ProgramError

HOST = Path(__file__).with_name("node_host.js")  # the program's side of the bridge (package data)


@dataclass(frozen=True)
class NodeProgram:
    node: str                 # the node binary
    pwd: Path                 # the program's folder (its cwd)
    entry: str                # the entry point, relative to `pwd` ("." for package.json's)
    sdk: Path                 # the project's node_modules/@pulumi/pulumi
    typescript: bool = True
    tsconfig: str = ""        # runtime.options.tsconfig, relative to `pwd`
    nodeargs: tuple = ()

    @property
    def main(self) -> Path:
        return (self.pwd / self.entry).resolve()

    def spec(self) -> dict:
        """What the program's host needs to start it (`gate/program/node_bridge.py`)."""
        # ts-node 7 (the SDK's vendored one) caches compiled files in the temporary folder for good;
        # the gate's run leaves nothing behind, so it compiles afresh (one program, once)
        environment = {"PULUMI_NODEJS_TYPESCRIPT": "true", "TS_NODE_CACHE": "false"} if self.typescript else {}
        if self.tsconfig:
            environment["PULUMI_NODEJS_TSCONFIG_PATH"] = self.tsconfig
        return {"node": self.node, "pwd": str(self.pwd), "entry": self.entry, "host": str(HOST),
                "nodeargs": list(self.nodeargs), "environment": environment}


def _options(project: Mapping) -> dict:
    runtime = project.get("runtime")
    options = runtime.get("options") if isinstance(runtime, dict) else None
    if options is not None and not isinstance(options, dict):
        raise ProgramError("Pulumi.yaml: runtime.options must be a mapping")
    options = options or {}
    for name, kind in (("typescript", bool), ("tsconfig", str), ("nodeargs", str)):
        if name in options and not isinstance(options[name], kind):
            raise ProgramError(f"Pulumi.yaml: runtime.options.{name} must be a {kind.__name__}")
    return options


def _entry(project_dir: Path, project: Mapping) -> tuple[Path, str]:
    main = project.get("main")
    if not main:
        return project_dir, "."
    path = project_dir / str(main)
    if path.is_dir():
        return path, "."
    if not path.is_file():
        raise ProgramError(f"no program to run: {path} (Pulumi.yaml's main) does not exist")
    return path.parent, path.name


def _sdk(pwd: Path) -> Path:
    for folder in (pwd, *pwd.parents):
        sdk = folder / "node_modules" / "@pulumi" / "pulumi"
        if (sdk / "package.json").is_file():
            return sdk
    manifest = next((f for f in (pwd, *pwd.parents) if (f / "package.json").is_file()), None)
    if manifest is None:
        raise ProgramError(f"{pwd} has no package.json: a Node.js Pulumi program needs one that depends on "
                           "@pulumi/pulumi (`npm init -y && npm install @pulumi/pulumi`)")
    raise ProgramError(f"the project's packages are not installed (no node_modules/@pulumi/pulumi from {pwd}): "
                       f"run `npm install` (or `npm ci`) in {manifest}")


def for_project(project_dir: Path, project: Mapping, environ: Mapping[str, str] | None = None) -> NodeProgram:
    environ = os.environ if environ is None else environ
    options = _options(project)
    pwd, entry = _entry(project_dir, project)
    node = shutil.which("node", path=environ.get("PATH"))
    if node is None:
        raise ProgramError("node is not on PATH: the program is a Node.js one (runtime: nodejs); install "
                           "Node.js 18 or later (https://nodejs.org) and put it on PATH")
    try:
        nodeargs = tuple(shlex.split(options.get("nodeargs") or ""))
    except ValueError as err:
        raise ProgramError(f"Pulumi.yaml: runtime.options.nodeargs: {err}") from None
    return NodeProgram(node=node, pwd=pwd, entry=entry, sdk=_sdk(pwd), typescript=options.get("typescript", True),
                       tsconfig=options.get("tsconfig") or "", nodeargs=nodeargs)
