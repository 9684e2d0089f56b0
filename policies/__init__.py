"""stateless-pack's guardrails: the rule catalog, waivers, and the engines' adapters built on them.

Everything here except `crossguard/` imports nothing from Pulumi: the rule catalog also runs inside
Checkov's own virtual environment (`checkov_checks/`), which has only pyyaml besides Checkov.
"""
