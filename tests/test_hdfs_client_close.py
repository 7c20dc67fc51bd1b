"""The HDFS client owns its channels (issue 14): closing it while its lease renewer runs stops and joins the
renewer before the channels close, and leaves no thread and no open channel behind; the DataNode channel
cache (an emrlab_common.channels.ChannelCache, unit-tested in test_channel_cache.py) is bounded and closes
what it evicts, on real gRPC channels."""

from __future__ import annotations

import threading

import grpc
import pytest

from hdfs.client import client as client_module
from tests.conftest import wait_until

# A lease renewed every quarter of its hard limit: the renewer calls the NameNode every 0.25 s.
FAST_RENEWAL = {"dfs.namenode.lease-hard-limit-sec": "1", "dfs.replication": "1"}


def probe(channel):
    """A call on `channel`, registered while it is open (registering one on a closed channel crashes grpc)."""
    return channel.unary_unary("/emrlab.test.Probe/Probe")


def datanode_probe(client, address: str):
    """A probe on the client's cached channel to `address` (opened if none is)."""
    hold = client._datanode(address)
    try:
        return probe(hold.channel)
    finally:
        hold.release()


def is_closed(probe_call) -> bool:
    """A closed channel refuses a call at once (ValueError); an open one tries it (no such method, or no server)."""
    try:
        probe_call(b"", timeout=10)
    except ValueError:
        return True
    except grpc.RpcError:
        return False
    return False


@pytest.mark.cluster
def test_a_client_closed_while_its_lease_renewer_runs_leaves_nothing_behind(cluster_factory):
    cluster = cluster_factory(core=1, properties=FAST_RENEWAL)
    threads_before = set(threading.enumerate())
    client = client_module.Client.for_cluster(cluster.cluster_dir)
    with client.create("/closed-file.txt") as closed:
        closed.write(b"to be or not to be\n")
    assert client.file_checksum("/closed-file.txt")  # asks a DataNode over gRPC: a DataNode channel
    writer = client.create("/open-file.txt")
    writer.write(b"written, never closed\n")
    writer.flush()
    wait_until(lambda: client._renewer is not None and client._renewer.is_alive(), what="the lease renewer")
    renewer = client._renewer
    assert len(client._datanode_channels) == 1
    datanode_address = client._block_locations("/closed-file.txt").blocks[0].locations[0].address
    probes = [probe(client._namenode_channel), datanode_probe(client, datanode_address)]
    assert len(client._datanode_channels) == 1  # the probe used the cached channel
    assert not any(is_closed(call) for call in probes)

    client.close()

    assert not renewer.is_alive(), "close() returned with the lease renewer still running"
    assert all(is_closed(call) for call in probes)
    assert len(client._datanode_channels) == 0
    wait_until(lambda: set(threading.enumerate()) <= threads_before, what="the client's threads to end")
    client.close()  # twice is harmless


def test_the_datanode_channel_cache_is_bounded_and_closes_the_least_recently_used(monkeypatch):
    monkeypatch.setattr(client_module, "DATANODE_CHANNELS_MAX", 2)
    client = client_module.Client("127.0.0.1:1")  # channels connect lazily: nothing listens here, none is called
    try:
        kept = datanode_probe(client, "127.0.0.1:2")
        evicted = datanode_probe(client, "127.0.0.1:3")
        datanode_probe(client, "127.0.0.1:2")  # used again: now the most recent, so :3 goes first
        newest = datanode_probe(client, "127.0.0.1:4")
        assert len(client._datanode_channels) == 2
        assert is_closed(evicted) and not is_closed(kept) and not is_closed(newest)
        namenode = probe(client._namenode_channel)
    finally:
        client.close()
    assert is_closed(kept) and is_closed(newest) and is_closed(namenode)


def datanode_holds(client) -> int:
    """Holds on the client's cached DataNode channels (a stream reading a block over gRPC keeps one)."""
    return sum(entry.holders for entry in client._datanode_channels._cached.values())


@pytest.mark.cluster
def test_closing_a_partly_read_stream_lets_its_datanode_channel_go(cluster_factory):
    cluster = cluster_factory(core=1, properties={"dfs.blocksize": "1m", "dfs.replication": "1"})
    # Blocks over gRPC (no streaming port, no short-circuit read): the read holds the DataNode's channel.
    client = client_module.Client.for_cluster(cluster.cluster_dir, properties={
        "emrlab.client.streaming-transfer": "false", "dfs.client.read.shortcircuit": "false"})
    try:
        with client.create("/three-blocks.bin") as writer:
            writer.write(bytes(range(256)) * 12 * 1024)  # 3 MiB: three blocks
        located = client._block_locations("/three-blocks.bin")
        assert len(located.blocks) == 3
        datanode_probe_call = datanode_probe(client, located.blocks[0].locations[0].address)
        stream = client.open("/three-blocks.bin")
        assert stream.read(100_000) == (bytes(range(256)) * 400)[:100_000]
        assert datanode_holds(client) == 1  # mid-block: the ReadBlock stream holds the channel

        stream.close()

        assert stream.closed
        assert datanode_holds(client) == 0, "a closed stream (still referenced) kept its DataNode channel"
    finally:
        client.close()
    assert is_closed(datanode_probe_call)  # nothing held it: Client.close() closed it at once
    assert stream.closed  # the stream is still referenced here
