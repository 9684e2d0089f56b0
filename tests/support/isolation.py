"""A gate run that nothing of the developer's environment reaches: an empty waiver registry by
default, and no Checkov named by STATELESS_PACK_CHECKOV (import `isolated` into a test module)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    registry = tmp_path / "no-waivers.yaml"
    registry.write_text("version: 1\nwaivers: []\n")
    monkeypatch.setenv("STATELESS_PACK_WAIVERS", str(registry))
    monkeypatch.delenv("STATELESS_PACK_CHECKOV", raising=False)
