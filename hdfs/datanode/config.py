"""The DataNode's settings, with Hadoop's keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import (
    MiB,
    duration_parser,
    parse_bool,
    parse_int,
    parse_milliseconds,
    parse_seconds,
    parse_size,
    parse_text,
    setting,
)


@dataclass(frozen=True)
class DataNodeConfig:
    address: str = setting(
        "dfs.datanode.address", "127.0.0.1:0", parse_text,
        "Where the DataNode serves block reads and writes; port 0 picks a free one.")
    data_dir: str = setting(
        "dfs.datanode.data.dir", "", parse_text,
        "Where blocks are stored; empty means <cluster dir>/nodes/<node>/data.")
    heartbeat_interval_s: float = setting("dfs.heartbeat.interval", 3.0, parse_seconds, "Heartbeat period.")
    block_report_interval_s: float = setting(
        "dfs.blockreport.intervalMsec", 6 * 3600.0, parse_milliseconds, "Period of full block reports.")
    incremental_report_interval_s: float = setting(
        "dfs.blockreport.incremental.intervalMsec", 0.0, parse_milliseconds,
        "At most one report of finalized replicas per interval (0: each as soon as the actor wakes); "
        "deleted replicas wait for the next heartbeat either way.")
    scan_period_s: float = setting(
        "dfs.datanode.scan.period.hours", 504 * 3600.0, duration_parser("h"),
        "The block scanner verifies every replica once per period (hours; `30s` works too). 0 disables it.")
    directory_scan_interval_s: float = setting(
        "dfs.datanode.directoryscan.interval", 21600.0, parse_seconds,
        "How often the files on disk are compared with the replicas the DataNode believes it holds "
        "(missing, grown or unknown replica files are reported). 0 disables it.")
    scan_bytes_per_second: int = setting(
        "dfs.block.scanner.volume.bytes.per.second", 1 * MiB, parse_size,
        "The scanner's read budget, so it never competes with real work.")
    sync_on_close: bool = setting(
        "dfs.datanode.synconclose", False, parse_bool,
        "fsync a replica when it is finalized (off by default, as in Hadoop: replication is the safety net).")
    short_circuit_reads: bool = setting(
        "dfs.client.read.shortcircuit", True, parse_bool,
        "Let clients on this node read replica files directly.")
    block_access_token_enabled: bool = setting(
        "dfs.block.access.token.enable", False, parse_bool,
        "Refuse reads, writes, copies and short-circuit access without a valid block token from the NameNode.")
    capacity_bytes: int = setting(
        "emrlab.datanode.capacity", 0, parse_size,
        "Capacity to report; 0 means the size of the disk holding the data dir.")
    reserved_bytes: int = setting("dfs.datanode.du.reserved", 0, parse_size, "Space left free for other uses.")
    transfer_threads_max: int = setting(
        "dfs.datanode.max.transfer.threads", 64, parse_int, "Block reads and writes served at once.")
    streaming_transfer: bool = setting(
        "emrlab.datanode.streaming-transfer", True, parse_bool,
        "Also serve block reads and writes on a streaming port beside gRPC (Hadoop's transfer port; "
        "hdfs/datatransfer.py); false leaves only gRPC.")
    read_packet_bytes: int = setting(
        "emrlab.datanode.read-packet-size", 1 * MiB, parse_size,
        "Bytes per packet when streaming a block to a reader (Hadoop: 64 KiB; larger is cheaper in Python).")
