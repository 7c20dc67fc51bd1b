"""The managed-cluster layer (what Amazon EMR adds on top of Hadoop) and the `emrlab` command."""
