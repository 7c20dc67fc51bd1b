"""The DataNode: stores block replicas on a core node's disk and moves them.

Read in this order:

  events.py         the vocabulary of its NameNode conversation: events in, commands out
  state.py          that conversation as a pure state machine: `handle(event, now_s) -> commands`;
                    heartbeats, full and incremental block reports (batched), bad replicas, what a
                    directory scan's differences become, the bounds on copies and recoveries at once
  actor.py          the shell around it (Hadoop's BPServiceActor): carries the commands out (calls, retries,
                    a bounded copy pool), and hears the events the other threads tell the DataNode
  recovery.py       block recovery's decisions (the agreed length, who takes part), pure; the actor calls
  node.py           what its threads share: the storage, block keys, peer channels, `tell` for events
  peers.py          how many channels it keeps to other DataNodes (an emrlab_common.channels.ChannelCache)
  storage.py        replicas as files with checksums beside them; a replica's lifecycle (RBW, FINALIZED, RUR)
  transfer.py       write pipelines and reads over gRPC (DataTransferProtocol)
  xceiver.py        the same on the streaming port, as raw packets (hdfs/datatransfer.py)
  scanner.py        background verification of every replica (the block scanner)
  directoryscan.py  what is on disk against what it believes it holds
  http.py           its web page, `/jmx` and WebHDFS's data side (webhdfs.py)
  config.py         DataNodeConfig: Hadoop's keys and defaults; __main__.py, the process
"""
