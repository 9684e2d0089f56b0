"""`stateless-pack` command line: each subcommand lives in its own module and registers itself."""
from __future__ import annotations

import argparse
import sys

from policies.gate import preview_command, scan_command, waivers_command

SUBCOMMANDS = (preview_command, scan_command, waivers_command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stateless-pack",
        description="Guardrails that keep Kubernetes applications stateless.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)  # each sets `func` on its parser via set_defaults
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
