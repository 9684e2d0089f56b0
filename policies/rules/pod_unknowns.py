"""Preview unknowns that hide a pod template's containers or volumes from a rule."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import dotted, pod_unknowns
from stateless_pack.policies.rule import Violation


def unknown_pod(manifest, fields, what) -> Iterator[Violation]:
    for path in pod_unknowns(manifest, fields):
        yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the pod template'} is unknown during "
                        f"preview: cannot check {what}", unknown=True)
