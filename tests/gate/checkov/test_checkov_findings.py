"""gate/checkov/findings.py: every manifest Checkov dropped is a finding, matched to its resource or not."""
from __future__ import annotations

from stateless_pack.gate.checkov.findings import by_location, checkov_findings
from stateless_pack.gate.checkov.runner import CheckovScan
from stateless_pack.gate.findings import Subject
from stateless_pack.policies.waivers.model import ResourceRef

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}}


def test_a_dropped_manifest_is_a_blocking_finding_even_without_a_matching_resource(tmp_path):
    file = str(tmp_path / "web.yaml")
    subject = Subject(SERVICE, ResourceRef.of_manifest(SERVICE), file=file, line=1)
    scan = CheckovScan(findings=[], suppressions=[], unevaluated=[(file, 1), (file, 7)])
    found = checkov_findings(scan, by_location([subject]))
    assert [(f.rule, f.resource, f.file, f.line, f.blocking) for f in found] == [
        ("not-checked-by-checkov", "Service/shop/web", file, 1, True),
        ("not-checked-by-checkov", f"{file}:7", file, 7, True)]  # no resource at line 7: still reported
