"""The gate's stage: what the commands print and write."""
