"""The NameNode: HDFS's namespace and block map, in one process.

Read in this order:
  events.py      what goes in (an event per change: DataNode, client, admin, Tick) and what comes out
                 (DataNode commands, one reply per RPC)
  namesystem.py  the state machine: handle(event, now_s) -> commands (Hadoop's FSNamesystem); queries only read
  namespace_ops.py  the client's namespace operations it inherits: the queries and shared checks, then
                 write_ops.py (create, add block, complete, append) and tree_ops.py (mkdir, rename, delete,
                 attributes); reports.py, fsck and -count/-du
  namespace.py   the directory tree and its edits; inodes.py, its nodes and permissions
  blocks.py      where replicas are and the replication monitor; placement.py picks nodes
  datanodes.py   DataNode liveness and the commands waiting for their heartbeats
  leases.py, safemode.py
  edits.py       the records of the edit log, one per namespace change (Namespace.apply applies them)
  editlog.py     what is durable: the edit log and the image
  config.py      its settings, with Hadoop's keys and defaults (a bad value is refused at start)
  server.py      the gRPC servicers and the lock; conversions.py, protos to plain values; __main__.py, the process
  tokens.py      delegation tokens in token mode: issued, renewed, cancelled
  http.py        its web page and `/jmx`; webhdfs.py, WebHDFS's NameNode side (hdfs/webhdfs/ has what both sides share)
"""
