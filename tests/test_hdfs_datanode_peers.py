"""The DataNode's channels to its peers (hdfs/datanode/peers.py) are an emrlab_common.channels.ChannelCache,
whose unit tests are tests/test_channel_cache.py. Here one cluster test writes through pipelines whose mirrors
are gRPC calls on held channels (no streaming port)."""

from __future__ import annotations

import os

import pytest
from conftest import wait_until


@pytest.mark.cluster
def test_pipelines_mirror_over_held_grpc_channels(cluster_factory, tmp_path):
    cluster = cluster_factory(core=3, properties={"dfs.blocksize": "1m", "emrlab.datanode.streaming-transfer": "false"})
    data = os.urandom(3 * 1024 * 1024 + 12345)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    cluster.emrlab("dfs", "-D", "dfs.replication=3", "-put", str(source), "/mirrored.bin", check=True)
    client = cluster.client()

    def every_block_on_three_nodes():
        blocks = client._block_locations("/mirrored.bin").blocks
        return len(blocks) == 4 and all(len(block.locations) == 3 for block in blocks)

    wait_until(every_block_on_three_nodes, what="3 replicas of every block (the DataNodes' reports)")
    blocks = client._block_locations("/mirrored.bin").blocks
    assert not any(location.xfer_port for block in blocks for location in block.locations)  # gRPC mirrors only
    copy = tmp_path / "copy.bin"
    cluster.emrlab("dfs", "-get", "/mirrored.bin", str(copy), check=True)
    assert copy.read_bytes() == data
