"""Runs Checkov's Kubernetes runner the way Checkov's own tests do, one fresh runner per file.

Executed by the tests with the python of Checkov's environment (Checkov cannot live in the pytest venv):

    python tests/support/checkov_probe.py EXTERNAL_CHECKS_DIR FILE [FILE ...]

For every FILE it builds a fresh check registry (Checkov's built-in checks plus our external checks,
loaded anew from EXTERNAL_CHECKS_DIR) and a fresh `Runner`, scans that one file, and prints one JSON
object per line: {"file", "records": [{"check_id", "result", "resource", "evaluated_keys",
"suppress_comment"}], "parsing_errors"}.
"""
from __future__ import annotations

import json
import sys

import checkov.kubernetes.checks.resource.base_spec_check as base_spec_check
import checkov.kubernetes.checks.resource.registry as registry_module
import checkov.kubernetes.runner as runner_module
from checkov.common.bridgecrew.check_type import CheckType
from checkov.kubernetes.checks.resource.base_registry import Registry
from checkov.kubernetes.runner import Runner
from checkov.runner_filter import RunnerFilter

# Checkov's built-in Kubernetes checks register themselves on import, once per process.
BUILTIN_CHECKS = [check for checks in registry_module.registry.checks.values() for check in checks]


def fresh_registry() -> Registry:
    """A registry with only the built-ins; our checks are loaded into it by the runner."""
    registry = Registry(CheckType.KUBERNETES)
    for check in dict.fromkeys(BUILTIN_CHECKS):
        registry.register(check)
    # Every module that holds the registry by name: the runner scans with it, BaseK8Check registers in it.
    registry_module.registry = base_spec_check.registry = runner_module.registry = registry
    return registry


def scan(external_checks_dir: str, path: str) -> dict:
    fresh_registry()
    report = Runner().run(root_folder=None, files=[path], external_checks_dir=[external_checks_dir],
                          runner_filter=RunnerFilter(framework=["kubernetes"]))
    reports = report if isinstance(report, list) else [report]
    records = []
    for rep in reports:
        for record in rep.passed_checks + rep.failed_checks + rep.skipped_checks:
            records.append({
                "check_id": record.check_id,
                "result": record.check_result["result"].name,
                "resource": record.resource,
                "evaluated_keys": list(record.check_result.get("evaluated_keys") or []),
                "suppress_comment": record.check_result.get("suppress_comment", ""),
            })
    records.sort(key=lambda r: (r["check_id"], r["resource"], r["result"]))
    return {"file": path, "records": records,
            "parsing_errors": sorted({e for rep in reports for e in rep.parsing_errors})}


def main(argv: list[str]) -> int:
    external_checks_dir, *paths = argv
    for path in paths:
        print(json.dumps(scan(external_checks_dir, path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
