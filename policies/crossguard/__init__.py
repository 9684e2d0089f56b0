"""The CrossGuard adapter: the rule catalog run as a Pulumi policy pack.

`manifests` (Pulumi resource -> Kubernetes manifest), `messages` (what a diagnostic says, written
and read in one place), `run_waivers` (this pack run's waiver pass), `reporting` (the one seam every
violation passes), `waiver_policies` (registry, expiry, suppressions, stale waivers), `pack`
(catalog -> policies), `request_memo` (one property conversion per gRPC call).
"""
