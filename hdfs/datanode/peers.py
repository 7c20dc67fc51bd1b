"""The DataNode's channels to other DataNodes: how many it keeps.

A DataNode talks to its peers from many threads at once: a write pipeline's
mirror to the next node, a re-replication copy, a block recovery's calls. They
share one `emrlab_common.channels.ChannelCache`, which never closes a channel
a thread holds (grpc crashes the process on a call over a closed channel):

    with datanode.peer(address) as stub:
        stub.InitReplicaRecovery(...)

At most PEER_CHANNELS_MAX channels stay cached; at shutdown the idle ones
close at once and the held ones as their users finish.
"""

from __future__ import annotations

PEER_CHANNELS_MAX = 64
