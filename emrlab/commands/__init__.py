"""Commands of the managed-cluster layer."""
