"""stateless-pack guardrails.

Everything under `policies` except `policies.crossguard` and `policies.gate` imports nothing from
Pulumi: the rule catalog also runs inside Checkov's own virtual environment.
"""
