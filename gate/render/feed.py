"""The program's manifests written as it registers resources, for `render` to move into place.

Each resource's manifests (as `render.manifests` makes them: secrets redacted) are written while
the program still runs, in `rendered_text` form, into a folder of the run; once the program has
ended, `render` gives them their names in the run's order and moves them into place instead of
writing them (`files`: {item key: file}). The rendered folder is the same, sooner.
"""
from __future__ import annotations

from pathlib import Path

from stateless_pack.gate.render import manifests as render


class RenderFeed:
    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[tuple, Path] = {}  # item key (`render.item_keys`) -> file
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, resource) -> None:
        items = render.manifests([resource])
        for key, item in zip(render.item_keys(items), items):
            path = self.folder / f"{len(self.files):06d}.yaml"
            path.write_text(render.rendered_text(item), encoding="utf-8")
            self.files[key] = path

    def flush(self) -> None:
        """Nothing to do: every manifest is written as it comes."""
