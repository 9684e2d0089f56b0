"""A Pulumi Python project written for a test: Pulumi.yaml, `__main__.py` and any other files."""
from __future__ import annotations

import textwrap
from pathlib import Path


def pulumi_program(folder: Path, body: str, files: dict[str, str] | None = None, name: str = "p") -> Path:
    """`folder` (created if needed) as a project named `name` whose program is `body` (dedented)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    (folder / "__main__.py").write_text(textwrap.dedent(body))
    for relative, text in (files or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder
