"""YARN: the ResourceManager, NodeManagers, containers, and the clients that use them.

Reading order:

    records.py         the nouns (Resource, Container, ContainerStatus, NodeReport, ...), their states and ids
    resourcemanager/   the master: node, application and container lifecycles, the scheduler (pure), its gRPC face
    nodemanager/       one per node: the container lifecycle (pure), the executor that runs processes, the heartbeat
    amclient.py        what an ApplicationMaster uses: AMRMClient (allocate) and NMClient (start, stop containers)
    client.py          what a user's program uses: submit, report, kill, list nodes
    distributedshell/  the smallest ApplicationMaster: run one command in N containers
    containerlogs.py   reading a container's logs, for `emrlab logs`
    cli/               `emrlab node`, `application`, `rmadmin`, `logs`
    errors.py          YARN's typed errors
"""

import emrlab_common  # noqa: F401  first: turns gRPC's fork handlers off before grpc loads (see there)
