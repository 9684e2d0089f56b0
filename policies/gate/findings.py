"""The gate's one finding type: what every engine (CrossGuard pack, Checkov, stack rules, waivers)
reports, so that one report, one waiver filter and one set of output writers serve them all."""
from __future__ import annotations

from dataclasses import asdict, dataclass

ENGINES = ("crossguard", "checkov", "stack-rules", "waivers", "scan")


@dataclass(frozen=True)
class Finding:
    rule: str            # our rule name (e.g. "no-sticky-service") or a Checkov id (e.g. "CKV_K8S_20")
    engine: str          # one of ENGINES
    level: str           # "mandatory" | "advisory"
    resource: str        # "Kind/namespace/name", or a file for scan errors
    message: str
    path: str = ""       # offending field, e.g. "spec.sessionAffinity"
    fix: str = ""        # how to fix it
    file: str = ""       # rendered or scanned manifest file, if any
    urn: str = ""        # Pulumi URN, when the resource came from a program
    checkov_id: str = ""  # the CKV_* id, for our rules and Checkov's
    waiver: str = ""     # id of the registry waiver that covers it ("" = not waived)

    @property
    def blocking(self) -> bool:
        return self.level == "mandatory" and not self.waiver

    def to_dict(self) -> dict:
        return {**asdict(self), "blocking": self.blocking}
