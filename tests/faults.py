"""`python -m tests.faults [--seed N] [--rounds R]`: a seeded nemesis against a real HDFS cluster.

Writers and readers run while the nemesis, one fault a round, kills -9 and
restarts a DataNode or the NameNode, freezes a DataNode (SIGSTOP, then
SIGCONT), or damages a replica file on one node (flips bytes in it, cuts it
short, appends to it, or deletes its block or `.meta` file). After each
round it waits for `fsck /` to say HEALTHY again. Every operation is
recorded as ok, failed (refused: nothing was promised) or unknown (the answer
was lost: it may or may not have happened). At the end the NameNode is
restarted once more and the checker reads everything back:

  - every acknowledged file exists with exactly the bytes written,
  - every acknowledged directory exists,
  - no read ever returned wrong bytes (a failed read is allowed, a wrong one is not),
  - fsck healed after every fault.

It prints what it tried, injected and acknowledged, and what was lost, which
must be 0 (exit 1 otherwise). The same seed replays the same schedule of
faults. This covers HDFS only; YARN and MapReduce faults are not in it yet.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from emrlab import launcher
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.errors import DeadlineExceeded, EmrlabError, Unavailable
from hdfs import Client
from tests.conftest import FAST_PROPERTIES

CORE_NODES = 4
HOLD_S = 1.5                 # how long a node stays down or frozen
HEAL_TIMEOUT_S = 90.0        # fsck must be HEALTHY again within this after a fault is undone
FILE_BYTES_MAX = 2_500_000   # files span up to three 1 MiB blocks
WRITERS = 2
FAULT_PROPERTIES = {
    **FAST_PROPERTIES,
    "dfs.datanode.directoryscan.interval": "1",
    "dfs.datanode.scan.period.hours": "5s",
    "dfs.block.scanner.volume.bytes.per.second": "50m",
}
FAULTS = ("kill-datanode", "kill-namenode", "freeze-datanode", "flip-bytes", "truncate", "append", "delete-block",
          "delete-meta")


@dataclass
class History:
    """What the clients did and heard; the checker's evidence."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("ok", "failed", "unknown"), 0))
    files: dict[str, bytes] = field(default_factory=dict)  # acknowledged: path -> bytes
    directories: set[str] = field(default_factory=set)
    wrong_reads: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    unhealed: list[str] = field(default_factory=list)

    def record(self, outcome: str) -> None:
        with self.lock:
            self.counts[outcome] += 1


def client_for(cluster_dir: ClusterDir) -> Client:
    """A fresh client each time: a restarted NameNode is on a new port."""
    return Client.for_cluster(cluster_dir)


def writer(cluster_dir: ClusterDir, history: History, index: int, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed * 1000 + index)
    number = 0
    while not stop.is_set():
        number += 1
        path = f"/faults/writer-{index}/file-{number}"
        data = rng.randbytes(rng.randrange(FILE_BYTES_MAX))
        try:
            with client_for(cluster_dir) as client:
                if number % 5 == 1:
                    directory = f"/faults/writer-{index}/dir-{number}"
                    client.mkdirs(directory)
                    with history.lock:
                        history.directories.add(directory)
                client.write_bytes(path, data)
        except (Unavailable, DeadlineExceeded):
            history.record("unknown")  # the answer was lost: the file may or may not be there; nothing is checked
            stop.wait(0.2)
            continue
        except EmrlabError:
            history.record("failed")
            stop.wait(0.2)
            continue
        with history.lock:
            history.files[path] = data
        history.record("ok")


def reader(cluster_dir: ClusterDir, history: History, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed * 1000 + 999)
    while not stop.wait(0.1):
        with history.lock:
            if not history.files:
                continue
            path = rng.choice(sorted(history.files))
            expected = history.files[path]
        try:
            with client_for(cluster_dir) as client:
                actual = client.read_bytes(path)
        except EmrlabError:
            history.record("failed")
            continue
        history.record("ok")
        if actual != expected:
            with history.lock:
                history.wrong_reads.append(path)


# ---------------------------------------------------------------- the nemesis

def replica_files(cluster_dir: ClusterDir, node_id: str) -> list[Path]:
    root = cluster_dir.node_dir(node_id) / "data" / "current" / "finalized"
    return sorted(path for path in root.rglob("blk_*") if path.suffix != ".meta")


def inject(cluster_dir: ClusterDir, fault: str, rng: random.Random) -> str:
    """Apply one fault, hold it, undo what can be undone; return what was done, for the log."""
    node_id = f"core-{rng.randrange(1, CORE_NODES + 1)}"
    if fault == "kill-datanode":
        launcher.kill_daemon(cluster_dir, f"datanode-{node_id}")
        time.sleep(HOLD_S)
        launcher.start_daemon(cluster_dir, "hdfs.datanode", node_id)
        return f"kill -9 datanode-{node_id}, restarted"
    if fault == "kill-namenode":
        launcher.kill_daemon(cluster_dir, "namenode")
        launcher.start_daemon(cluster_dir, "hdfs.namenode")
        return "kill -9 namenode, restarted"
    if fault == "freeze-datanode":
        pid = cluster_dir.read_daemon(f"datanode-{node_id}").pid
        os.kill(pid, signal.SIGSTOP)
        time.sleep(HOLD_S)
        os.kill(pid, signal.SIGCONT)
        return f"SIGSTOP datanode-{node_id} for {HOLD_S}s"
    files = replica_files(cluster_dir, node_id)
    if not files:
        return f"{fault} on {node_id}: no replica there yet"
    block_file = rng.choice(files)
    meta_file = next(block_file.parent.glob(f"{block_file.name}_*.meta"), None)
    try:
        match fault:
            case "flip-bytes":
                data = bytearray(block_file.read_bytes())
                if data:
                    data[rng.randrange(len(data))] ^= 0xFF
                    block_file.write_bytes(bytes(data))
            case "truncate":
                with open(block_file, "r+b") as file:
                    file.truncate(block_file.stat().st_size // 2)
            case "append":
                with open(block_file, "ab") as file:
                    file.write(b"bytes nobody wrote")
            case "delete-block":
                block_file.unlink()
            case "delete-meta":
                if meta_file is not None:
                    meta_file.unlink()
    except FileNotFoundError:
        return f"{fault} on {node_id}: {block_file.name} went away first"
    return f"{fault} {block_file.name} on {node_id}"


def fsck_healthy(cluster_dir: ClusterDir) -> bool:
    try:
        with client_for(cluster_dir) as client:
            files, summary = client.fsck("/")
    except EmrlabError:
        return False
    if summary.safe_mode:
        return False
    for entry in files:
        for block in entry.blocks:
            if len(block.live_replicas) < block.expected_replication and not entry.status.under_construction:
                return False
    return True


def wait_healed(cluster_dir: ClusterDir) -> bool:
    deadline = time.monotonic() + HEAL_TIMEOUT_S
    while time.monotonic() < deadline:
        if fsck_healthy(cluster_dir):
            return True
        time.sleep(0.3)
    return False


# ---------------------------------------------------------------- the run

def check(cluster_dir: ClusterDir, history: History) -> list[str]:
    """What an acknowledged operation lost, after one more NameNode restart."""
    launcher.kill_daemon(cluster_dir, "namenode")
    launcher.start_daemon(cluster_dir, "hdfs.namenode")
    wait_healed(cluster_dir)
    lost = []
    with client_for(cluster_dir) as client:
        for path, data in sorted(history.files.items()):
            try:
                if client.read_bytes(path) != data:
                    lost.append(f"{path}: different bytes")
            except EmrlabError as error:
                lost.append(f"{path}: {error.message}")
        for directory in sorted(history.directories):
            if not client.exists(directory):
                lost.append(f"{directory}: directory gone")
    return lost + [f"{path}: a read returned wrong bytes" for path in history.wrong_reads] + \
        [f"not healed after: {fault}" for fault in history.unhealed]


def started_pids(cluster_dir: ClusterDir) -> set[int]:
    return {record.pid for record in cluster_dir.daemons()}


def stop_everything(cluster_dir: ClusterDir, pids: set[int]) -> None:
    """`cluster down`, then SIGKILL any daemon this run started that is somehow still alive.

    By its pid, and only if that pid still runs a daemon of this cluster directory (pids are reused)."""
    pids = pids | started_pids(cluster_dir)
    launcher.down(cluster_dir, timeout_s=5)
    for pid in pids:
        try:
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(cluster_dir.root).encode() in command_line:
            os.kill(pid, signal.SIGKILL)


def run(seed: int, rounds: int, directory: Path, say=print) -> int:
    """Start a cluster in `directory`, run the schedule, check; returns the number of losses."""
    cluster_dir = ClusterDir(directory)
    launcher.up(cluster_dir, core=CORE_NODES, properties=FAULT_PROPERTIES, services=("hdfs",))
    pids = started_pids(cluster_dir)
    history = History()
    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(cluster_dir, history, index, seed, stop), daemon=True)
               for index in range(WRITERS)]
    threads.append(threading.Thread(target=reader, args=(cluster_dir, history, seed, stop), daemon=True))
    rng = random.Random(seed)
    try:
        for thread in threads:
            thread.start()
        for round_number in range(1, rounds + 1):
            time.sleep(rng.uniform(0.5, 1.5))
            try:
                description = inject(cluster_dir, rng.choice(FAULTS), rng)
            finally:
                pids |= started_pids(cluster_dir)
            history.faults.append(description)
            healed = wait_healed(cluster_dir)
            if not healed:
                history.unhealed.append(description)
            say(f"round {round_number}: {description}{'' if healed else ' -- NOT HEALED'}")
        stop.set()
        for thread in threads:
            thread.join(60)
        lost = check(cluster_dir, history)
        pids |= started_pids(cluster_dir)
    finally:
        stop.set()
        stop_everything(cluster_dir, pids)
    counts = history.counts
    say(f"seed {seed}: operations tried {sum(counts.values())} (ok {counts['ok']}, failed {counts['failed']}, "
        f"unknown {counts['unknown']}), faults injected {len(history.faults)}, "
        f"acknowledged files {len(history.files)}, directories {len(history.directories)}, lost {len(lost)}")
    for line in lost:
        say(f"LOST {line}")
    return len(lost)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="replays a schedule")
    parser.add_argument("--rounds", type=int, default=12, help="faults to inject, one a round")
    args = parser.parse_args(argv)
    logging.getLogger("hdfs").setLevel(logging.ERROR)  # the clients' retries are expected here; the rounds say enough
    with tempfile.TemporaryDirectory(prefix="emrlab-faults-") as directory:
        print(f"seed {args.seed}, {args.rounds} rounds, cluster in {directory}")
        return 1 if run(args.seed, args.rounds, Path(directory)) else 0


if __name__ == "__main__":
    sys.exit(main())
