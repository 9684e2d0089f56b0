"""The gate's stage: Checkov, from its own environment."""
