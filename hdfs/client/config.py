"""The HDFS client's settings, with Hadoop's keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import parse_bool, parse_int, parse_milliseconds, parse_octal, parse_size, parse_text, setting


@dataclass(frozen=True)
class ClientConfig:
    block_size_bytes: int = setting("dfs.blocksize", 0, parse_size, "Block size of new files; 0 = the NameNode's default.")
    replication: int = setting("dfs.replication", 0, parse_int, "Replication of new files; 0 = the NameNode's default.")
    umask: int = setting("fs.permissions.umask-mode", 0o022, parse_octal, "Bits removed from new files' and directories' modes.")
    write_retries: int = setting(
        "dfs.client.block.write.retries", 3, parse_int,
        "Times a block write is retried on a new pipeline when a DataNode fails.")
    complete_retries: int = setting(
        "dfs.client.block.write.locateFollowingBlock.retries", 5, parse_int,
        "Times `close` asks the NameNode again while the last block's replicas are being reported.")
    complete_initial_delay_s: float = setting(
        "dfs.client.block.write.locateFollowingBlock.initial.delay.ms", 0.05, parse_milliseconds,
        "First wait before asking again (doubles each time). Hadoop waits 400 ms; our DataNodes report at once.")
    socket_timeout_s: float = setting(
        "dfs.client.socket-timeout", 60.0, parse_milliseconds, "Deadline for a DataNode to answer a read.")
    short_circuit_reads: bool = setting(
        "dfs.client.read.shortcircuit", True, parse_bool,
        "Read replicas on this client's own node straight from their files.")
    authentication: str = setting(
        "hadoop.security.authentication", "simple", parse_text,
        "simple: the NameNode believes the user name; token: each call carries a delegation token (from the "
        "file $HADOOP_TOKEN_FILE_LOCATION) or a proof signed with the cluster key, if this process can read it.")
    streaming_transfer: bool = setting(
        "emrlab.client.streaming-transfer", True, parse_bool,
        "Move block bytes over a DataNode's streaming port (hdfs/datatransfer.py) when it has one, as Hadoop "
        "does; false sends them in gRPC messages.")
    read_block_retries: int = setting(
        "dfs.client.max.block.acquire.failures", 3, parse_int,
        "Times the client asks the NameNode for fresh locations before a block is declared missing.")
