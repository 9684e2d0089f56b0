"""`stateless-pack pack new DIR`: a policy pack folder for `pulumi preview --policy-pack DIR` and
`pulumi policy publish`, standing alone: its requirements.txt installs this distribution (pinned),
its `__main__.py` hands the installed policies to pulumi-policy, its `approvers.yaml` says who may
approve waivers for the stacks it checks (edit it; stacks cannot)."""
from __future__ import annotations

import argparse
import shutil
import sys
from importlib import metadata, resources
from pathlib import Path

from stateless_pack.gate.exit_codes import EXIT_CLEAN, EXIT_FAILED

PACK_FILES = ("PulumiPolicy.yaml", "__main__.py", "approvers.yaml")


def distribution_version() -> str:
    return metadata.version("stateless-pack")


def register(subparsers) -> None:
    parser = subparsers.add_parser("pack", help="write a policy pack folder for the Pulumi CLI")
    commands = parser.add_subparsers(dest="pack_command", required=True)
    new = commands.add_parser(
        "new", help="write a policy pack folder (any name, anywhere)",
        description="Write DIR/PulumiPolicy.yaml, __main__.py, requirements.txt and approvers.yaml: a "
                    "policy pack that loads from a virtual environment built from its requirements.txt "
                    "alone, ready for `pulumi preview --policy-pack DIR` and `pulumi policy publish DIR`.")
    new.add_argument("dir", metavar="DIR")
    new.add_argument("--requirement", metavar="SPEC", default=None,
                     help=f"what requirements.txt installs (default: stateless-pack=={distribution_version()})")
    new.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    new.set_defaults(func=new_command)


def write_pack(target: Path, requirement: str | None = None) -> list[Path]:
    """Write the pack files into `target` (created); returns them."""
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("stateless_pack.policies")
    written = []
    for name in PACK_FILES:
        with resources.as_file(source.joinpath(name)) as path:
            shutil.copyfile(path, target / name)
        written.append(target / name)
    spec = requirement or f"stateless-pack=={distribution_version()}"
    (target / "requirements.txt").write_text(
        "# The pack's whole environment: the stateless-pack distribution, pinned (it brings\n"
        "# pulumi-policy and the rule catalog). The Pulumi CLI installs this into ./venv.\n"
        f"{spec}\n", encoding="utf-8")
    written.append(target / "requirements.txt")
    return written


def new_command(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not args.force)):
        print(f"stateless-pack pack new: error: {target} exists and is not an empty folder "
              "(--force writes into it)", file=sys.stderr)
        return EXIT_FAILED
    for path in write_pack(target, args.requirement):
        print(path)
    return EXIT_CLEAN
