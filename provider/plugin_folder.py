"""`python -m stateless_pack.provider.plugin_folder DIR`: a plugin folder of the component provider that
stands alone, for `pulumi package add DIR` where stateless-pack comes from a package index.

It holds PulumiPlugin.yaml (runtime python, its own `venv`), the provider's `__main__.py` and a
requirements.txt that installs this distribution, pinned: the Pulumi CLI builds the venv from it.
"""
import argparse
import sys
from importlib import resources
from pathlib import Path

from stateless_pack.provider.host import version

PLUGIN_YAML = """\
# stateless-pack's component provider: `pulumi package add <this folder>` generates an SDK of
# Application, RedisSessionStore and ObjectBucket in the program's language.
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: venv
"""


def write_plugin_folder(target: Path, requirement: str | None = None) -> list[Path]:
    """Write the folder's three files into `target` (created); returns them."""
    target.mkdir(parents=True, exist_ok=True)
    entry = resources.files("stateless_pack.provider").joinpath("__main__.py").read_text(encoding="utf-8")
    files = {"PulumiPlugin.yaml": PLUGIN_YAML, "__main__.py": entry,
             "requirements.txt": "# The provider's whole environment: the stateless-pack distribution, pinned.\n"
                                 f"{requirement or f'stateless-pack=={version()}'}\n"}
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
    return [target / name for name in files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stateless_pack.provider.plugin_folder",
                                     description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("dir", metavar="DIR")
    parser.add_argument("--requirement", metavar="SPEC", help="what requirements.txt installs "
                        f"(default: stateless-pack=={version()})")
    args = parser.parse_args(argv)
    target = Path(args.dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        print(f"{parser.prog}: error: {target} exists and is not an empty folder", file=sys.stderr)
        return 2
    for path in write_plugin_folder(target, args.requirement):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
