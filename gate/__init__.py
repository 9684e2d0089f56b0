"""The gate: the `stateless-pack` command (offline preview, scan, waiver commands)."""
