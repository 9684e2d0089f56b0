"""Where things are in this checkout, for the tests (the code under test never asks)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
PACK_DIR = REPO / "policies"  # this repository's development pack
PROVIDER_DIR = REPO / "provider"  # the component provider's plugin folder (PulumiPlugin.yaml)


def checkov_bin() -> Path:
    """The Checkov the gate would run (provisioned by `make setup`); the tests never skip without it."""
    from stateless_pack.gate.checkov.env import find_checkov

    return find_checkov()


def checkov_python() -> Path:
    return checkov_bin().parent / "python"
