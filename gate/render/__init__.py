"""The gate's stage: rendering and expansion: what the program's resources are as Kubernetes manifests."""
