"""A stateless-pack policy pack: `pulumi preview --policy-pack <this folder>`.

The rules, the waiver handling and this pack's policies come from the installed `stateless-pack`
distribution (requirements.txt); this file only hands them to pulumi-policy. The folder may have any
name and live anywhere (`stateless-pack pack new DIR` writes one; `pulumi policy publish` uploads it).
An `approvers.yaml` next to this file names who may approve waivers for stacks this pack checks.
"""
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

from stateless_pack.policies.crossguard.pack import PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(pack_dir=Path(__file__).resolve().parent),
    # Each policy carries its rule's level; this default only applies to a policy without one.
    enforcement_level=EnforcementLevel.MANDATORY,
)
