"""The managed-cluster layer (what Amazon EMR adds on top of Hadoop) and the `emrlab` command.

Reading order: `cli.py` (one entry point, a module per command), `controller/` (the cluster
controller; its own __init__ gives its reading order), `launcher.py` (starting and stopping
daemons), `commands/` (cluster, step, spot, demo), `spotlab.py` (the spot lab), `corpus.py`.
"""

import emrlab_common  # noqa: F401  first: turns gRPC's fork handlers off before grpc loads (see there)
