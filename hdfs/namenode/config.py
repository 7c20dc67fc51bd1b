"""The NameNode's settings, with Hadoop's keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import (
    MiB,
    duration_parser,
    parse_bool,
    parse_float,
    parse_int,
    parse_milliseconds,
    parse_seconds,
    parse_size,
    parse_text,
    setting,
)
from emrlab_common.errors import InvalidArgument

# The most copies a DataNode's descriptor queues (datanodes.TRANSFERS_QUEUED_MAX): the replication monitor asks a
# node for at most max-streams-hard-limit copies at once, so neither stream limit may be above it.
TRANSFERS_QUEUED_MAX = 64


@dataclass(frozen=True)
class NameNodeConfig:
    rpc_address: str = setting(
        "dfs.namenode.rpc-address", "127.0.0.1:0", parse_text,
        "Where the NameNode listens; port 0 picks a free one (published in the cluster directory).")
    block_size_bytes: int = setting("dfs.blocksize", 128 * MiB, parse_size, "Default block size of new files.")
    replication: int = setting("dfs.replication", 3, parse_int, "Default replication of new files.")
    replication_max: int = setting("dfs.replication.max", 512, parse_int, "Largest replication a file may ask for.")
    replication_min: int = setting(
        "dfs.namenode.replication.min", 1, parse_int,
        "Replicas a block needs before its file may be closed, and to count as safe at start.")
    block_size_min_bytes: int = setting(
        "dfs.namenode.fs-limits.min-block-size", 1 * MiB, parse_size,
        "Smallest block size a file may ask for (tiny blocks flood the NameNode with metadata).")
    component_length_max: int = setting(
        "dfs.namenode.fs-limits.max-component-length", 255, parse_int,
        "Longest name (in UTF-8 bytes) a new file or directory may have.")
    directory_items_max: int = setting(
        "dfs.namenode.fs-limits.max-directory-items", 1024 * 1024, parse_int,
        "Most entries one directory may hold (a huge directory makes every listing and image slow).")
    bytes_per_checksum: int = setting(
        "dfs.bytes-per-checksum", 512, parse_size, "Bytes covered by each CRC32C checksum.")
    write_packet_size_bytes: int = setting(
        "dfs.client-write-packet-size", 1 * MiB, parse_size,
        "Size of a write-pipeline packet. Hadoop uses 64 KiB; each packet costs Python's gRPC about as much "
        "as 64 KiB of data does, so 1 MiB packets double write throughput here (benchmarks/hdfs_throughput.py).")
    heartbeat_interval_s: float = setting(
        "dfs.heartbeat.interval", 3.0, parse_seconds, "How often DataNodes send heartbeats.")
    heartbeat_recheck_interval_s: float = setting(
        "dfs.namenode.heartbeat.recheck-interval", 300.0, parse_milliseconds,
        "How often dead DataNodes are looked for. A DataNode is dead after "
        "2 * recheck-interval + 10 * heartbeat interval of silence (10.5 minutes by default).")
    safemode_threshold: float = setting(
        "dfs.namenode.safemode.threshold-pct", 0.999, parse_float,
        "Fraction of blocks that must have a live replica before safe mode ends by itself.")
    safemode_datanodes_min: int = setting(
        "dfs.namenode.safemode.min.datanodes", 0, parse_int, "Live DataNodes needed to leave safe mode.")
    safemode_extension_s: float = setting(
        "dfs.namenode.safemode.extension", 30.0, parse_milliseconds,
        "How long to stay in safe mode after the threshold is reached.")
    redundancy_interval_s: float = setting(
        "dfs.namenode.redundancy.interval.seconds", 3.0, parse_seconds,
        "How often the replication monitor looks for under- and over-replicated blocks.",
        aliases=("dfs.namenode.replication.interval",))
    replication_streams_max: int = setting(
        "dfs.namenode.replication.max-streams", 2, parse_int,
        "Re-replications a DataNode may be asked to do at once (1 to 64).")
    replication_streams_hard_limit: int = setting(
        "dfs.namenode.replication.max-streams-hard-limit", 4, parse_int,
        "... and at most this many when the copies are of blocks with a single replica left (copied first; 1 to 64).")
    replication_work_multiplier: int = setting(
        "dfs.namenode.replication.work.multiplier.per.iteration", 2, parse_int,
        "Blocks scheduled for re-replication per live DataNode per monitor pass.")
    reconstruction_pending_timeout_s: float = setting(
        "dfs.namenode.reconstruction.pending.timeout-sec", 300.0, parse_seconds,
        "A scheduled re-replication not confirmed by then is scheduled again.",
        aliases=("dfs.namenode.replication.pending.timeout-sec",))
    exclude_path: str = setting(
        "dfs.hosts.exclude", "", parse_text,
        "File naming DataNodes to decommission (node id, host:port or host, one a line; # comments), "
        "read at start and by `dfsadmin -refreshNodes`; empty = <cluster dir>/dfs.exclude.")
    decommission_interval_s: float = setting(
        "dfs.namenode.decommission.interval", 30.0, parse_seconds,
        "How often decommissioning DataNodes are checked for blocks still needing copies elsewhere.")
    authentication: str = setting(
        "hadoop.security.authentication", "simple", parse_text,
        "simple: the user a call names is believed (Hadoop's default, for labs); token: a call must carry a "
        "delegation token or a user proof signed with the cluster key (emrlab's stand-in for kerberos).")
    delegation_token_lifetime_s: float = setting(
        "dfs.namenode.delegation.token.renew-interval", 24 * 3600.0, parse_milliseconds,
        "How long a delegation token is good for; its owner may renew it for as long again, up to 7 days.")
    block_access_token_enabled: bool = setting(
        "dfs.block.access.token.enable", False, parse_bool,
        "Sign a token for every block a client may read or write; DataNodes refuse requests without one.")
    block_key_update_interval_s: float = setting(
        "dfs.block.access.key.update.interval", 600 * 60.0, duration_parser("m"),
        "How often the NameNode makes a new key to sign block tokens with (minutes).")
    block_token_lifetime_s: float = setting(
        "dfs.block.access.token.lifetime", 600 * 60.0, duration_parser("m"),
        "How long a block token is good for (minutes).")
    invalidate_limit: int = setting(
        "dfs.block.invalidate.limit", 1000, parse_int, "Replica deletions sent to a DataNode per heartbeat.")
    lease_hard_limit_s: float = setting(
        "dfs.namenode.lease-hard-limit-sec", 1200.0, parse_seconds,
        "A writer silent this long loses its lease; the NameNode closes its file at the last "
        "length its replicas agree on.")
    lease_recheck_interval_s: float = setting(
        "dfs.namenode.lease-recheck-interval-ms", 2.0, parse_milliseconds, "How often expired leases are looked for.")
    checkpoint_transactions: int = setting(
        "dfs.namenode.checkpoint.txns", 1_000_000, parse_int,
        "Fold the edit log into a new image after this many transactions.")
    checkpoint_period_s: float = setting(
        "dfs.namenode.checkpoint.period", 3600.0, parse_seconds, "... or after this long, whichever comes first.")
    checkpoints_retained: int = setting(
        "dfs.namenode.num.checkpoints.retained", 2, parse_int, "Images (and the edits after them) kept on disk.")
    permissions_enabled: bool = setting(
        "dfs.permissions.enabled", True, parse_bool, "Check permissions (superuser is never checked).")
    superuser: str = setting(
        "emrlab.hdfs.superuser", "", parse_text,
        "Who owns / and passes every permission check; empty: the user the NameNode runs as (Hadoop's rule). "
        "Whoever starts the NameNode says it (the launcher and the controller: the cluster's superuser).")
    superuser_group: str = setting(
        "dfs.permissions.superusergroup", "supergroup", parse_text, "Members of this group are superusers too.")
    random_seed: int = setting(
        "emrlab.namenode.random-seed", 0, parse_int,
        "Seed of the replica placement and read-order choices; 0 picks one at start and logs it, so that a "
        "failing run can be replayed with the same choices.")
    listing_limit: int = setting("dfs.ls.limit", 1000, parse_int, "Entries per page of a directory listing.")

    def __post_init__(self) -> None:
        """Settings that would break the NameNode later are refused at start, with the key that is wrong."""
        for key, streams in (("dfs.namenode.replication.max-streams", self.replication_streams_max),
                             ("dfs.namenode.replication.max-streams-hard-limit", self.replication_streams_hard_limit)):
            if not 1 <= streams <= TRANSFERS_QUEUED_MAX:
                raise InvalidArgument(f"{key}: {streams}; must be between 1 and {TRANSFERS_QUEUED_MAX} (the copies "
                                      f"one DataNode's command queue holds)")
