"""A real Helm chart repository on loopback: charts packaged with `helm package`, indexed with
`helm repo index`, served by http.server on 127.0.0.1; and a helm whose own files stay in the test."""
from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from stateless_pack.gate.render import tools
from support.paths import FIXTURES

CHARTS = FIXTURES / "charts"


def helm_bin() -> Path:
    return tools.find(tools.HELM)


@pytest.fixture
def helm_home(monkeypatch, tmp_path):
    """helm's caches, config and data in the test's folder (never the user's ~/.cache/helm)."""
    for variable in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / "helm-home" / variable.lower()))
    return tmp_path / "helm-home"


@contextmanager
def served_repository(folder: Path, *charts: Path) -> Iterator[str]:
    """A chart repository of `charts` in `folder`, served on loopback while inside; its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    for chart in charts:
        subprocess.run([str(helm_bin()), "package", str(chart), "--destination", str(folder)],
                       check=True, capture_output=True, text=True)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    subprocess.run([str(helm_bin()), "repo", "index", str(folder), "--url", url],
                   check=True, capture_output=True, text=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log on the test's stderr
        pass
