"""The gate's stage: the policy pack driven over the analyzer protocol, as the engine does."""
