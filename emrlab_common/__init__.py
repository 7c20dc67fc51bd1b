"""Plumbing shared by every emrlab daemon and command.

This package sits below `hdfs`, `yarn`, `mapreduce` and `emrlab`, and imports
none of them. It holds only what all of them need in the same form: typed
configuration with Hadoop's key names (`config`), operating errors that travel
over gRPC (`errors`), server and channel helpers (`rpc`), the cluster directory
where daemons publish their addresses (`clusterdir`), the daemon process shell
(`daemon`), logging setup (`logs`), and the stubs generated from `proto/`
(`protos`, rebuilt by `python -m emrlab_common.protogen`).
"""
