"""`stateless-pack checkov install|path`: Checkov's private environment (see `gate/checkov/env.py`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stateless_pack.gate.checkov import env as checkov_env
from stateless_pack.gate.exit_codes import EXIT_CLEAN, EXIT_FAILED


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "checkov", help="provision or locate the Checkov the gate runs",
        description="Checkov cannot share an environment with Pulumi (it pins packaging<24). `install` "
                    "creates a private environment with the Checkov version this release is tested "
                    "with, in your cache (or --dir); `path` prints the Checkov the gate would run.")
    commands = parser.add_subparsers(dest="checkov_command", required=True)
    install = commands.add_parser("install", help="create (or reuse) Checkov's private environment")
    install.add_argument("--dir", metavar="DIR", help=f"where (default: {checkov_env.default_env_dir()})")
    install.add_argument("--python", metavar="PYTHON", default=sys.executable,
                         help="interpreter for the environment (default: this one)")
    install.add_argument("--force", action="store_true", help="rebuild even if it is there")
    install.set_defaults(func=install_command)
    path = commands.add_parser("path", help="print the Checkov executable the gate would run")
    path.add_argument("--checkov", metavar="PATH", help="as the gate's --checkov")
    path.set_defaults(func=path_command)


def install_command(args: argparse.Namespace) -> int:
    try:
        checkov = checkov_env.install(Path(args.dir) if args.dir else None, python=args.python,
                                      force=args.force, log=lambda m: print(m, file=sys.stderr))
    except Exception as exc:  # pip, venv, disk: say what failed
        print(f"stateless-pack checkov install: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(checkov)
    return EXIT_CLEAN


def path_command(args: argparse.Namespace) -> int:
    try:
        print(checkov_env.find_checkov(args.checkov))
    except checkov_env.CheckovNotFound as exc:
        print(f"stateless-pack checkov path: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_CLEAN
