"""Checkov's input files written as the program registers resources, for a streamed Checkov.

Each resource's whole manifests (as `render.manifests` makes them: secrets redacted; Patches are
left to our rules) become Checkov's input files (`CheckovProcess.add_inputs`: skip annotations left
out), in batches, so that its resource checks run while the program still runs. They are the files
the scan of the rendered manifests would write: `copies` tells `scan_manifests` which file each
rendered manifest already has. A manifest Checkov's loader would not just read back (a List, a
document that is not a manifest, too deep: `as_loaded`) abandons the feed: the gate then scans the
rendered folder as a whole.
"""
from __future__ import annotations

from pathlib import Path

from stateless_pack.gate.render import manifests as render
from stateless_pack.gate.render.manifest_files import as_loaded

BATCH = 20  # files per batch: Checkov parses a file in a few ms, a batch costs one line on its stdin


class CheckovFeed:
    def __init__(self, checkov):
        self.checkov = checkov
        self.abandoned = not checkov.streamed
        self._pending: list[tuple[tuple, dict]] = []
        self._files: dict[tuple, Path] = {}  # item key (`render.item_keys`) -> input file

    def add(self, resource) -> None:
        if self.abandoned:
            return
        items = render.manifests([resource])
        for key, item in zip(render.item_keys(items), items):
            if item.partial:
                continue
            manifest = item.redacted()
            if as_loaded(manifest, "") is None:
                self.abandoned = True
                return
            self._pending.append((key, manifest))
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending and not self.abandoned:
            files = self.checkov.add_inputs([manifest for _, manifest in self._pending])
            self._files.update(zip((key for key, _ in self._pending), files))
        self._pending = []

    def copies(self, rendered: list) -> dict[Path, Path]:
        """{rendered file: Checkov's input file for it} for `rendered` (as `render.render` returned
        them, in order); empty once abandoned."""
        if self.abandoned:
            return {}
        return {item.file: self._files[key] for key, item in zip(render.item_keys(rendered), rendered)
                if key in self._files}
