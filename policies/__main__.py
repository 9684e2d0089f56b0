"""The stateless-pack Pulumi policy pack: `pulumi preview --policy-pack policies`.

The CLI runs this file with the pack folder as working directory, from a virtual environment that
holds only `requirements.txt`: the rule catalog is imported from the checkout, not installed.
"""
import sys
from pathlib import Path

# The pack folder is `policies/` itself; its parent (the repository root) must be importable so that
# `policies.*` resolves to this checkout. Inserted first so a stale installed copy never wins.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.crossguard import build_policies  # noqa: E402

PolicyPack(
    name="stateless-pack",
    policies=build_policies(),
    # Each policy carries its rule's level; this default only applies to a policy without one.
    enforcement_level=EnforcementLevel.MANDATORY,
)
