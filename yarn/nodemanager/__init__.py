"""The NodeManager: launches, watches and kills containers on one node, and hosts aux services."""
