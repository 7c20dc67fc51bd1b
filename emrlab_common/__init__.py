"""Plumbing shared by every emrlab daemon and command.

This package sits below `hdfs`, `yarn`, `mapreduce` and `emrlab`, and imports
none of them. It holds only what all of them need in the same form: typed
configuration with Hadoop's key names (`config`), operating errors that travel
over gRPC (`errors`), server and channel helpers (`rpc`), the cluster directory
where daemons publish their addresses (`clusterdir`) and the typed, versioned
cluster spec it holds (`clusterspec`), the daemon process shell (`daemon`),
logging setup (`logs`), and the stubs generated from `proto/` (`protos`,
rebuilt by `python -m emrlab_common.protogen`).

Read `config`, `errors`, `rpc`, `clusterdir`, `clusterspec` and `daemon`
first; then, as you meet them: `lifecycle` (the transition tables every state machine uses),
`wireenum` (a lifecycle enum and its proto enum, converted in one place),
`command` (what every `emrlab` command shares), `hooks` (a higher layer's
callbacks, so imports flow one way), `durability` (fsync'd files),
`hostsfile` (Hadoop's exclude files), `limits` (per-client RPC limits),
`web` (every daemon's HTTP side), `progress` (the terminal's progress line),
`shadowing` (PyPI's `hdfs` package), and secure mode's `credentials`
(the cluster key), `certificates` (the cluster CA) and `tls`.
"""

import os

# gRPC's fork handlers (on by default in grpcio's core) restart its poller thread in a forked
# child, whose descriptors subprocess then closes before exec: the child can die before it ever
# runs its program (seen as PySpark's "Java gateway process exited before sending its port
# number"). Every fork here is followed by exec, or comes from multiprocessing's fork server, so
# the handlers are turned off, before grpc loads. This module is imported before grpc by every
# package's __init__ (hdfs, yarn, mapreduce, emrlab) and by the tests' conftest.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
