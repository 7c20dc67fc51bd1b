"""Per-client limits on every gRPC server (emrlab_common.limits): a hostile client is refused with
RESOURCE_EXHAUSTED while a normal client of the same daemon keeps working."""

from __future__ import annotations

import threading

import grpc
import pytest

from emrlab_common import rpc
from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument, ResourceExhausted
from emrlab_common.limits import ClientLimiter, RpcLimits
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from tests.conftest import wait_until

LIMIT_PROPERTIES = {
    "ipc.maximum.data.length": "100k",  # above a 64 KiB write packet, below the hostile message
    "ipc.server.max.concurrent.calls.per.client": "4",
    "ipc.server.max.call.rate.per.client": "20",  # a dfs -put makes a handful of calls
    "dfs.heartbeat.interval": "1",  # the DataNode's own calls stay well under 5 a second
}


def test_concurrent_calls_are_counted_per_client_and_freed_when_they_end():
    limiter = ClientLimiter(load(RpcLimits, {"ipc.server.max.concurrent.calls.per.client": "2",
                                             "ipc.server.max.call.rate.per.client": "0"}))
    assert limiter.enter("a", 0.0) is None and limiter.enter("a", 0.0) is None
    assert "ipc.server.max.concurrent.calls.per.client=2" in limiter.enter("a", 0.0)
    assert limiter.enter("b", 0.0) is None  # another client is not held back
    limiter.leave("a")
    assert limiter.enter("a", 0.0) is None


def test_the_call_rate_is_a_bucket_refilled_over_time_per_client():
    limiter = ClientLimiter(load(RpcLimits, {"ipc.server.max.call.rate.per.client": "10"}))
    for _ in range(10):  # a second's worth at once
        assert limiter.enter("a", 100.0) is None
        limiter.leave("a")
    assert "ipc.server.max.call.rate.per.client" in limiter.enter("a", 100.0)
    assert limiter.enter("b", 100.0) is None
    assert limiter.enter("a", 100.25) is None  # a quarter of a second later: two more
    assert limiter.enter("a", 100.25) is None
    assert limiter.enter("a", 100.25) is not None


def test_default_concurrency_is_half_the_servers_threads_and_bad_values_are_clear():
    assert ClientLimiter(RpcLimits(), threads_max=64).calls_max == 32
    with pytest.raises(InvalidArgument, match="ipc.maximum.data.length"):
        load(RpcLimits, {"ipc.maximum.data.length": "lots"})


@pytest.fixture(scope="module")
def limited_cluster(tmp_path_factory):
    from tests.conftest import ClusterPool

    pool = ClusterPool(lambda: tmp_path_factory.mktemp("limits"))
    yield pool.start(core=1, properties=LIMIT_PROPERTIES)
    pool.close()


def _hostile_channel(address: str) -> grpc.Channel:
    # A connection of its own (gRPC would otherwise share one with other channels of this process).
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def _normal_client_works(cluster) -> None:
    """Another client (another process, another connection) is served as usual."""
    listing = cluster.emrlab("dfs", "-ls", "/", check=True)
    assert listing.returncode == 0


def test_a_client_over_the_call_rate_is_refused_with_one_clear_error(limited_cluster):
    address = limited_cluster.cluster_dir.address_of("namenode")
    with _hostile_channel(address) as channel:
        stub = hdfs_pb2_grpc.ClientProtocolStub(channel)
        with pytest.raises(ResourceExhausted, match="ipc.server.max.call.rate.per.client"):
            for _ in range(1000):
                rpc.call(stub.GetFileInfo, hdfs_pb2.GetFileInfoRequest(path="/"), timeout_s=10)
        _normal_client_works(limited_cluster)


def test_a_message_over_ipc_maximum_data_length_is_refused(limited_cluster):
    address = limited_cluster.cluster_dir.address_of("namenode")
    with _hostile_channel(address) as channel:
        stub = hdfs_pb2_grpc.ClientProtocolStub(channel)
        with pytest.raises(grpc.RpcError) as refusal:
            stub.GetFileInfo(hdfs_pb2.GetFileInfoRequest(path="/" + "x" * 200_000), timeout=10)
        assert refusal.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _normal_client_works(limited_cluster)
    source = "hello\n" * 50_000  # 300 KB: write packets (64 KiB) stay under the limit
    written = limited_cluster.emrlab("dfs", "-put", "-", "/ok.txt", input_bytes=source.encode(), check=True)
    assert written.returncode == 0
    assert limited_cluster.emrlab("dfs", "-cat", "/ok.txt", check=True).stdout.decode() == source


def test_a_client_holding_too_many_streams_is_refused_the_next(limited_cluster):
    record = limited_cluster.cluster_dir.read_daemon("datanode-core-1")
    release = threading.Event()

    def silent_writer():  # opens WriteBlock and never sends its header: the stream stays open
        release.wait(30)
        return
        yield

    with _hostile_channel(record.address) as channel:
        stub = hdfs_pb2_grpc.DataTransferProtocolStub(channel)
        opened = [stub.WriteBlock(silent_writer(), timeout=30) for _ in range(5)]
        try:
            wait_until(lambda: any(not call.is_active() for call in opened), what="one stream refused")
            refused = [call for call in opened if not call.is_active()]
            assert len(refused) == 1 and refused[0].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "ipc.server.max.concurrent.calls.per.client=4" in refused[0].details()
            _normal_client_works(limited_cluster)
            source = b"still writing\n" * 1000
            limited_cluster.emrlab("dfs", "-put", "-", "/during.txt", input_bytes=source, check=True)
            assert limited_cluster.emrlab("dfs", "-cat", "/during.txt", check=True).stdout == source
            assert sum(call.is_active() for call in opened) == 4  # the four it holds are still open
        finally:
            release.set()
            for call in opened:
                call.cancel()


def test_the_command_line_says_which_limit_in_one_line(limited_cluster, tmp_path):
    files = []
    for index in range(40):  # a few calls each, faster than 20 a second: one connection goes over the rate
        path = tmp_path / f"f{index}.txt"
        path.write_text(f"{index}\n")
        files.append(str(path))
    limited_cluster.emrlab("dfs", "-mkdir", "-p", "/many", check=True)
    result = limited_cluster.emrlab("dfs", "-put", *files, "/many")
    stderr = result.stderr.decode()
    assert result.returncode != 0 and "ipc.server.max.call.rate.per.client" in stderr, stderr
    assert "Traceback" not in stderr  # each refused file: "put: too many calls from this client (...): slow down"
