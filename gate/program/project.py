"""A Pulumi project as the gate reads it offline: Pulumi.yaml, the program to run, the stack and the
config the program sees (Pulumi.yaml defaults plus the stack file; `secure:` values decrypted where the
stack's secrets provider allows it offline: `gate/program/secure_config.py`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from stateless_pack.gate.program import secure_config
from stateless_pack.policies import safe_files

RUNTIMES = ("python", "nodejs")


class ProgramError(Exception):
    """The program could not be run: bad project files, undecryptable config, crash, timeout."""


def _read_yaml(path: Path) -> Any:
    """A project file (a regular file of bounded size, `safe_files`), parsed."""
    try:
        return yaml.safe_load(safe_files.read_text(path))
    except (OSError, yaml.YAMLError) as exc:
        raise ProgramError(f"cannot read {path}: {exc}") from None


def _config_string(value: Any) -> str:
    """Pulumi hands config to programs as strings; structured values as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_project(program_dir: Path) -> dict:
    path = program_dir / "Pulumi.yaml"
    if not path.exists():  # whatever else is there is read, and refused if it is no regular file
        raise ProgramError(f"{program_dir} is not a Pulumi project: no Pulumi.yaml")
    project = _read_yaml(path)
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise ProgramError(f"{path}: expected a mapping with a `name`")
    if runtime_name(project) not in RUNTIMES:
        raise ProgramError(f"{path}: runtime {runtime_name(project)!r} is not supported (the gate runs "
                           "Python and Node.js programs: runtime python or nodejs)")
    return project


def runtime_name(project: Mapping) -> Any:
    runtime = project.get("runtime")
    return runtime.get("name") if isinstance(runtime, dict) else runtime


def main_file(program_dir: Path, project: Mapping) -> Path:
    main = program_dir / str(project.get("main") or ".")
    target = main / "__main__.py" if main.is_dir() else main
    if not target.is_file():
        raise ProgramError(f"no program to run: {target} does not exist")
    return target


def stack_names(program_dir: Path, project: Mapping) -> list:
    folder = program_dir / str(project.get("stackConfigDir") or ".")
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def default_stack(program_dir: Path, project: Mapping) -> str:
    """The only stack with a config file; `dev` among several; else the caller must choose."""
    names = stack_names(program_dir, project)
    if len(names) == 1:
        return names[0]
    if "dev" in names or not names:
        return "dev"
    raise ProgramError(f"several stacks ({', '.join(names)}): choose one with --stack")


def load_config(program_dir: Path, project: Mapping, stack: str) -> tuple[dict, list, dict]:
    """(config, secret keys, secure keys) the program sees, from Pulumi.yaml defaults + the stack file.

    `secure:` values of a passphrase stack are decrypted (`secure_config`): in `config`, secret. Those
    of any other secrets provider come from `PULUMI_CONFIG_<KEY>` where it is set, else stay out of
    `config`: `secure keys` maps each to the one line the program's child fails with if it reads one
    (naming the provider and the variable).
    """
    name = project["name"]
    config: dict = {}
    secret: list = []
    declared = project.get("config") or {}
    if not isinstance(declared, dict):
        raise ProgramError("Pulumi.yaml: `config` must be a mapping")
    for key, spec in declared.items():
        full = _full_key(name, key)
        if isinstance(spec, dict) and ("default" in spec or "type" in spec or "secret" in spec):
            if "default" in spec:
                config[full] = _config_string(spec["default"])
            if spec.get("secret"):
                secret.append(full)
        else:
            config[full] = _config_string(spec)
    folder = program_dir / str(project.get("stackConfigDir") or ".")
    path = folder / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = ", ".join(stack_names(program_dir, project)) or "none"
        if stack != "dev" or known != "none":
            raise ProgramError(f"no stack config {path} (stacks with a config file: {known})")
        return config, secret, {}
    doc = _read_yaml(path) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("config") or {}, dict):
        raise ProgramError(f"{path}: `config` must be a mapping")
    if doc.get("environment"):
        raise ProgramError(f"{path}: Pulumi ESC environments cannot be resolved offline")
    values = {_full_key(name, str(key)): value for key, value in (doc.get("config") or {}).items()}
    encrypted = [key for key, value in values.items() if secure_config.contains_secure(value)]
    secure = _decrypt(path, doc, values, encrypted)
    for full, value in values.items():
        config.pop(full, None)
        if full not in secure:
            config[full] = _config_string(value)
    return config, list(dict.fromkeys(secret + encrypted)), secure


def _decrypt(path: Path, doc: Mapping, values: dict, encrypted: list) -> dict:
    """Decrypt the `encrypted` keys of `values` in place where the stack's provider allows it offline,
    else take them from the environment (`PULUMI_CONFIG_<KEY>`); the keys left, each with what the
    program is told when it reads one."""
    if not encrypted:
        return {}
    provider = secure_config.provider_of(doc)
    if provider.kind != "passphrase":
        unreadable = {}
        for key in encrypted:
            given = os.environ.get(secure_config.environment_key(key))
            if given:
                values[key] = given
            else:
                unreadable[key] = provider.refusal(key)
        return unreadable
    try:
        decrypt = secure_config.passphrase_decrypter(provider.salt, secure_config.read_passphrase())
    except secure_config.SecureConfigError as err:
        raise ProgramError(f"{path}: {err}") from None
    for key in encrypted:
        try:
            values[key] = secure_config.decrypt_tree(values[key], decrypt)
        except secure_config.SecureConfigError as err:
            raise ProgramError(f"{path}: config {key}: {err}") from None
    return {}


def secret_config_values(config: Mapping[str, str], secret_keys) -> list[str]:
    """The plain values of config keys declared secret: never to be printed."""
    return [config[key] for key in secret_keys if config.get(key)]
