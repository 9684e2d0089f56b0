"""The gate's one finding type: what every engine (CrossGuard pack, our rules, Checkov, waivers, file
loading) reports, so that one waiver pass, one report and one set of writers serve them all."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stateless_pack.policies.policy_config import BLOCKING_LEVELS
from stateless_pack.policies.waivers.model import ResourceRef

ENGINES = ("crossguard", "rules", "checkov", "waivers", "scan", "gate")


@dataclass(frozen=True)
class Subject:
    """A checked resource: the manifest the rules see and who it is, for waivers and reports."""
    manifest: Any          # secrets revealed: never written anywhere
    ref: ResourceRef
    file: str = ""         # the rendered or scanned file it is in
    line: int = 0          # 1-based line where its document starts (0: unknown)
    lines: Any = field(default=None, compare=False, repr=False)  # its FieldLines (manifest_files)

    def line_of(self, path: str) -> int:
        """1-based line of the field `path` (the deepest part of it that exists); 0: unknown."""
        return self.lines.line_of(path) if self.lines is not None and path else 0
    partial: bool = False  # a Patch: judged only by the rules that may judge a partial manifest


@dataclass(frozen=True)
class Related:
    """Another place a finding points at: the rendered document it was found in, the values key
    that writes or renders its field, the patch that wrote it (`gate/render/rendered_inputs.py`)."""
    role: str            # "rendered" | "values" (a chart's values key) | "patch" (a kustomize patch)
    message: str
    file: str = ""
    line: int = 0        # 1-based (0: unknown)


@dataclass(frozen=True)
class Finding:
    rule: str            # our rule name (e.g. "no-sticky-service") or a Checkov id (e.g. "CKV_K8S_20")
    engine: str          # one of ENGINES
    level: str           # "mandatory" | "advisory" | "remediate" (configured; "disabled" is never reported)
    resource: str        # "Kind/namespace/name", or a file for load errors
    message: str
    path: str = ""       # offending field, e.g. "spec.sessionAffinity"
    fix: str = ""        # how to fix it
    file: str = ""       # rendered or scanned manifest file, if any
    urn: str = ""        # Pulumi URN, when the resource came from a program
    checkov_id: str = ""  # the CKV_* id, for our rules and Checkov's
    waiver: str = ""     # id of the registry waiver that covers it ("" = not waived)
    line: int = 0        # 1-based line of the resource in `file` (0: unknown)
    field_line: int = 0  # 1-based line of the offending field `path` in `file` (0: unknown)
    related: tuple = ()  # Related places: a chart's rendered document, the values keys behind the field
    origin: str = ""     # the chart, kustomization or component it was rendered from, if any
    gate_only: bool = False  # checked by the gate only: the engine's pack never sees this resource
    subject: ResourceRef | None = field(default=None, compare=False, repr=False)  # for the waiver pass

    @property
    def blocking(self) -> bool:
        return self.level in BLOCKING_LEVELS and not self.waiver

    @property
    def rule_ids(self) -> frozenset:
        """The names this finding goes by, for waivers: its rule and its Checkov id."""
        return frozenset(r for r in (self.rule, self.checkov_id) if r)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("subject")
        return {**data, "blocking": self.blocking}
