"""`stateless-pack config show [PRESET] | check FILE`: the policy configuration's presets and checks.

A preset is a `--policy-pack-config` file shipped with the distribution; `show NAME` prints it to start
your own from (`stateless-pack config show statelessness-only > policy-config.json`), `check FILE`
validates a file the way `preview` and `scan` do and prints the level it gives every policy.
"""
from __future__ import annotations

import argparse
import sys

from stateless_pack.gate.exit_codes import EXIT_CLEAN, EXIT_FAILED
from stateless_pack.policies.policy_config import (
    PRESETS,
    PolicyConfig,
    PolicyConfigError,
    gate_check_levels,
    pack_policy_levels,
    preset_text,
)


def register(subparsers) -> None:
    p = subparsers.add_parser("config", help="show the shipped policy configuration presets, check a file",
                              description="Policy configuration files (`--policy-pack-config`, Pulumi's format).")
    sub = p.add_subparsers(dest="config_command", required=True)
    show = sub.add_parser("show", help="list the presets, or print one (JSON)")
    show.add_argument("preset", nargs="?", metavar="PRESET", choices=sorted(PRESETS))
    show.set_defaults(func=run_show)
    check = sub.add_parser("check", help="validate a policy configuration file and print every level")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=run_check)


def run_show(args: argparse.Namespace) -> int:
    if args.preset:
        sys.stdout.write(preset_text(args.preset))
    else:
        for name, description in PRESETS.items():
            print(f"{name}: {description}")
    return EXIT_CLEAN


def run_check(args: argparse.Namespace) -> int:
    try:
        config = PolicyConfig.load(args.file)
    except PolicyConfigError as exc:
        print(f"stateless-pack config check: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for name in [*pack_policy_levels(), *gate_check_levels()]:
        settings = config.settings(name)
        print(f"{name}: {config.level(name)}" + (f" {settings}" if settings else ""))
    print(f"Checkov built-in checks: {config.checkov_level('checkov-builtins')} unless set by id"
          + "".join(f"; {k}: {config.checkov_level(k)}" for k in config.entries if k.startswith(("CKV_", "CKV2_"))))
    return EXIT_CLEAN
