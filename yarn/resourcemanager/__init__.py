"""The ResourceManager: nodes, applications, containers and the scheduler (pure), and its gRPC face.

Reading order (Hadoop's classes in brackets):

    nodes.py         a node's lifecycle [RMNodeImpl]
    applications.py  an application's and an attempt's lifecycles [RMAppImpl, RMAppAttemptImpl]
    containers.py    a container's lifecycle, and the nodes' outboxes of commands [RMContainerImpl]
    scheduler.py     queues, locality, where containers go [CapacityScheduler, FairScheduler]
    appmanager.py    applications, attempts and containers together [RMAppManager]
    nodetracker.py   register, heartbeat, health, decommission [ResourceTrackerService, NodesListManager]
    amservice.py     register, allocate, finish, AM liveness [ApplicationMasterService]
    recovery.py      RM restart: applications from the store, containers from the NodeManagers [work-preserving]
    statestore.py    the state store's files [FileSystemRMStateStore]
    events.py        every change as an event in; NodeManager commands and RPC replies out
    state.py         the state machine the servicers call: handle(event, now_s) -> commands, and queries
                     [the ResourceManager and its RMContext]
    acls.py          who may see, kill and submit what; client-to-AM and AM tokens [ApplicationACLsManager,
                     QueueACLsManager, ClientToAMTokenSecretManager, AMRMTokenSecretManager]
    server.py        the shell: one lock around the state, the nodes' outboxes, thin gRPC servicers
    http.py          the web UI and its JSON twin (/cluster, /ws/v1/cluster/...)
    config.py        ResourceManagerConfig: Hadoop's keys and defaults
    __main__.py      the process: `python -m yarn.resourcemanager`
"""
