"""The user's cache folder of stateless-pack, where the tools it provisions live (Checkov, helm, kubectl)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root(environ=os.environ) -> Path:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stateless-pack"
