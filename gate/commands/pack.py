"""`stateless-pack pack new DIR`: a policy pack folder for `pulumi preview --policy-pack DIR` and
`pulumi policy publish`, standing alone: its requirements.txt installs this distribution (by default
from the wheel it carries, so that no index needs to serve stateless-pack), its `__main__.py` hands the
installed policies to pulumi-policy, its `approvers.yaml` says who may approve waivers for the stacks
it checks (edit it; stacks cannot; `--force` keeps it)."""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from urllib.parse import urlsplit

from stateless_pack.gate import distribution_wheel
from stateless_pack.gate.exit_codes import EXIT_CLEAN, EXIT_FAILED

GENERATED_FILES = ("PulumiPolicy.yaml", "__main__.py")  # the command's own: rewritten by --force
APPROVERS = "approvers.yaml"                             # the team's: written once, kept by --force
REQUIREMENTS = "requirements.txt"
HEADER = "# The pack's whole environment (the stateless-pack distribution brings pulumi-policy and the rule\n" \
         "# catalog). The Pulumi CLI installs it into ./venv with `pip install -r requirements.txt`, run in this\n" \
         "# folder; by hand, run pip in this folder too.\n"


class PackError(Exception):
    """The pack folder cannot be written as asked; the message says why."""


def distribution_version() -> str:
    return metadata.version("stateless-pack")


@dataclass(frozen=True)
class Requirement:
    """What requirements.txt installs stateless-pack from: its lines, and a wheel to carry along."""
    text: str
    wheel: Path | None = None   # copied next to requirements.txt, which names it by a relative path


def vendored(wheel: Path) -> Requirement:
    return Requirement(
        HEADER + "# stateless-pack itself: the wheel next to this file, no index needed for it (a path is\n"
                 "# relative to the folder pip runs in). Its dependencies (pulumi, pulumi-policy, ...) come from\n"
                 "# the index pip is configured with.\n"
                 f"./{wheel.name}\n", wheel)


def from_index(url: str) -> Requirement:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http", "file") or not (parts.netloc or parts.path):
        raise PackError(f"--index-url {url!r}: not an index URL (https://..., or file:// for a local one)")
    if parts.password and not parts.password.startswith("$"):
        raise PackError("--index-url holds a password, which would be written into requirements.txt (and "
                        "uploaded by `pulumi policy publish`): keep it in pip's configuration or keyring, or "
                        "write ${VARIABLE} in its place (pip expands environment variables in requirements files)")
    return Requirement(HEADER + "# stateless-pack and every dependency from this index (it must serve or proxy them all).\n"
                                f"--index-url {url}\nstateless-pack=={distribution_version()}\n")


def from_spec(spec: str | None = None) -> Requirement:
    return Requirement(HEADER + f"{spec or f'stateless-pack=={distribution_version()}'}\n")


def register(subparsers) -> None:
    parser = subparsers.add_parser("pack", help="write a policy pack folder for the Pulumi CLI")
    commands = parser.add_subparsers(dest="pack_command", required=True)
    new = commands.add_parser(
        "new", help="write a policy pack folder (any name, anywhere)",
        description="Write DIR/PulumiPolicy.yaml, __main__.py, requirements.txt, approvers.yaml and (by default) "
                    "the stateless-pack wheel: a policy pack that loads from a virtual environment built from its "
                    "requirements.txt alone, ready for `pulumi preview --policy-pack DIR` and `pulumi policy "
                    "publish DIR`. The wheel is rebuilt from the installed distribution (offline, checked "
                    "against what was installed) unless --wheel names one; --index-url or --requirement install "
                    "stateless-pack from an index instead.")
    new.add_argument("dir", metavar="DIR")
    source = new.add_mutually_exclusive_group()
    source.add_argument("--wheel", metavar="PATH", type=Path,
                        help="carry this stateless-pack wheel (default: rebuilt from the installed distribution)")
    source.add_argument("--index-url", metavar="URL",
                        help=f"carry no wheel: install stateless-pack=={distribution_version()} and its "
                             "dependencies from this index")
    source.add_argument("--requirement", metavar="SPEC",
                        help="carry no wheel: requirements.txt installs SPEC (e.g. a git URL)")
    new.add_argument("--force", action="store_true",
                     help="write into a folder that is not empty: rewrites the files this command writes, keeps "
                          "approvers.yaml")
    new.add_argument("--reset-approvers", action="store_true",
                     help="replace an existing approvers.yaml with the shipped example (whose keys approve "
                          "nothing of yours: every signed waiver then fails until you edit it)")
    new.set_defaults(func=new_command)


def _copy_shipped(name: str, target: Path) -> Path:
    with resources.as_file(resources.files("stateless_pack.policies").joinpath(name)) as path:
        shutil.copyfile(path, target / name)
    return target / name


def write_pack(target: Path, requirement: Requirement | None = None, *, reset_approvers: bool = False) -> list[Path]:
    """Write the pack files into `target` (created); returns those written. `requirement`: default
    `from_spec()`. An existing approvers.yaml is kept unless `reset_approvers`; wheels of this
    distribution that an earlier `pack new` left are replaced by the one `requirement` carries."""
    requirement = requirement or from_spec()
    target.mkdir(parents=True, exist_ok=True)
    written = [_copy_shipped(name, target) for name in GENERATED_FILES]
    if reset_approvers or not (target / APPROVERS).exists():
        written.append(_copy_shipped(APPROVERS, target))
    for old in target.glob(f"{distribution_wheel.WHEEL_PREFIX}*.whl"):
        if requirement.wheel is None or old.name != requirement.wheel.name:
            old.unlink()  # requirements.txt no longer names it
    if requirement.wheel is not None:
        if requirement.wheel.resolve() != (target / requirement.wheel.name).resolve():
            shutil.copyfile(requirement.wheel, target / requirement.wheel.name)
        written.append(target / requirement.wheel.name)
    (target / REQUIREMENTS).write_text(requirement.text, encoding="utf-8")
    return written + [target / REQUIREMENTS]


def _requirement(args: argparse.Namespace, scratch: Path) -> Requirement:
    if args.requirement:
        return from_spec(args.requirement)
    if args.index_url:
        return from_index(args.index_url)
    try:
        if args.wheel:
            return vendored(distribution_wheel.given(args.wheel, distribution_version()))
        return vendored(distribution_wheel.rebuild(scratch))
    except distribution_wheel.WheelError as exc:
        raise PackError(str(exc)) from None


def _check_target(target: Path, args: argparse.Namespace) -> None:
    if target.exists() and not target.is_dir():
        raise PackError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not args.force:
        raise PackError(f"{target} exists and is not an empty folder (--force rewrites the files this command "
                        "writes and keeps approvers.yaml)")


def new_command(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    try:
        _check_target(target, args)
        kept = (target / APPROVERS).exists() and not args.reset_approvers
        with tempfile.TemporaryDirectory(prefix="stateless-pack-wheel-") as scratch:
            written = write_pack(target, _requirement(args, Path(scratch)), reset_approvers=args.reset_approvers)
    except (PackError, OSError) as exc:
        print(f"stateless-pack pack new: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(path)
    if kept:
        print(f"kept {target / APPROVERS} (--reset-approvers replaces it with the shipped example)", file=sys.stderr)
    if (target / "venv").is_dir():
        print(f"note: {target / 'venv'} was built from the previous requirements.txt and the Pulumi CLI reuses it: "
              "remove it so that the CLI builds it anew", file=sys.stderr)
    return EXIT_CLEAN
