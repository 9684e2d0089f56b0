"""The component provider, started once per test module as the engine starts it, and a fresh resource
monitor of the test's own for each test (the reference stack's project and stack)."""
from __future__ import annotations

import pytest
import yaml

from support.paths import PROVIDER_DIR, REPO
from support.provider_harness import RecordingMonitor, launch_provider, serve_monitor


@pytest.fixture(scope="module")
def provider():
    with launch_provider(PROVIDER_DIR) as running:
        running.handshake(PROVIDER_DIR, running.engine_address)
        running.configure()
        yield running


@pytest.fixture
def monitor():
    recording = RecordingMonitor(yaml.safe_load((REPO / "Pulumi.yaml").read_text())["name"], "dev")
    server = serve_monitor(recording)
    yield recording
    server.stop(0)
