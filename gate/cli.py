"""`stateless-pack` command line: each subcommand lives in its own module and registers itself."""
from __future__ import annotations

import argparse
import sys
from importlib import metadata

from stateless_pack.gate.commands import checkov, config, explain, pack, preview, scan, waivers

SUBCOMMANDS = (preview, scan, explain, config, waivers, checkov, pack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stateless-pack",
        description="Guardrails that keep Kubernetes applications stateless: run a Pulumi program or "
                    "plain manifests through the rule catalog, the policy pack and Checkov.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {metadata.version('stateless-pack')}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)  # each sets `func` on its parser via set_defaults
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
