"""Waivers recorded in code: approved, scoped, expiring exceptions to rules.

`model` (waivers, registry, resource refs), `loading` (strict validation of files people write),
`signatures` (SSH signatures of approvers, verified while loading), `locating` (which registry a
stack uses, which approvers a pack trusts), `suppressions` (what resources claim), `decisions` (the
one waiver pass every engine calls).
"""
