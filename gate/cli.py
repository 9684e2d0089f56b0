"""`stateless-pack` command line: each subcommand lives in its own module and registers itself."""
from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata

from stateless_pack.gate.commands import checkov, config, explain, pack, preview, scan, tools, waivers
from stateless_pack.gate.exit_codes import EXIT_FAILED

SUBCOMMANDS = (preview, scan, explain, config, waivers, checkov, tools, pack)
DEBUG = "STATELESS_PACK_DEBUG"


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
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`scan ... | head`): the report was not delivered
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        try:
            print("stateless-pack: the output was closed before the report was written",
                  file=sys.stderr)
        except OSError:
            pass
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours: one line, as every refusal; the traceback on request
        if os.environ.get(DEBUG):
            raise
        print(f"stateless-pack: internal error ({type(exc).__name__}: {exc}); nothing was checked. Run again "
              f"with {DEBUG}=1 for the traceback and report it", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
