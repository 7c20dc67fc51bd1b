"""`python -m tests.faults [--seed N] [--rounds R] [--netns] [--hdfs-only]`: a seeded nemesis against a real cluster.

HDFS writers and a reader run, and word-count jobs run beside them on YARN
(tests/faults_jobs.py), while the nemesis, one fault a round, kills -9 and
restarts a DataNode, a NodeManager, the NameNode or the ResourceManager (the
last two on their old addresses, as Hadoop's fixed ports; the RM recovers its
applications from its state store, `yarn.resourcemanager.recovery.enabled`,
on in `cluster up`), freezes a DataNode or a whole node (its DataNode,
NodeManager and containers: SIGSTOP, then SIGCONT), kills -9 a container (an
ApplicationMaster or a task), damages a replica file on one node (flips bytes
in it, cuts it short, appends to it, or deletes its block or `.meta` file), or
fills one node's disk (its data directory is a small tmpfs). With `--netns`
each worker node is in its own network namespace (tests/faults_netns.py) and
the nemesis also partitions one node and degrades one node's link. After each
round it waits for `fsck /` to say HEALTHY and every NodeManager to be
RUNNING again. Every operation is recorded as invoked, then ok, failed
(refused: nothing was promised) or unknown (the answer was lost: it may or
may not have happened). At the end the NameNode is restarted once more and the
checker reads everything back:

  - every acknowledged file exists with exactly the bytes written,
  - every acknowledged directory exists,
  - no read ever returned wrong bytes (a failed read is allowed, a wrong one is not),
  - every job that SUCCEEDED (or left a _SUCCESS) has exactly the reference word counts,
    every job that failed said why clearly, and none is still running,
  - no client raised anything but an EmrlabError, and none hung,
  - fsck healed after every fault (the first fault it does not heal from
    ends the schedule), and every daemon answers at the end.

It prints what it tried, injected and acknowledged, and what was lost, which
must be 0 (exit 1 otherwise). The same seed replays the same schedule: each
round's fault, node and hold (which replica, byte or container it hits
depends on what the cluster holds at that moment).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the test modules import `conftest`, as under pytest

from emrlab import launcher
from emrlab.controller import launch
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.errors import DeadlineExceeded, EmrlabError, Unavailable
from hdfs import Client
from tests import faults_jobs
from tests.conftest import FAST_PROPERTIES
from tests.faults_netns import Network
from tests.test_mapreduce_cluster import MR_FAST_PROPERTIES

CORE_NODES = 4
FULL_DISK_NODE = f"core-{CORE_NODES}"  # its data directory is a small tmpfs, which the fill-disk fault fills
FULL_DISK_MB = 96
HOLD_S = 1.5                 # how long a node stays down, frozen or cut off (some faults hold longer: see inject)
HEAL_TIMEOUT_S = 90.0        # fsck must be HEALTHY again within this after a fault is undone
CLIENTS_FINISH_TIMEOUT_S = 90.0  # a write or read still going this long after the nemesis stopped is a hang
JOBS_FINISH_TIMEOUT_S = 240.0  # a job still running this long after the nemesis stopped is a hang
FILE_BYTES_MAX = 2_500_000   # files span up to three 1 MiB blocks
WRITERS = 2
JOB_RUNNERS = 2
FAULT_PROPERTIES = {
    **FAST_PROPERTIES,
    "dfs.datanode.directoryscan.interval": "1",
    "dfs.datanode.scan.period.hours": "5s",
    "dfs.block.scanner.volume.bytes.per.second": "50m",
    **MR_FAST_PROPERTIES,
}
HDFS_FAULTS = ("kill-datanode", "kill-namenode", "freeze-datanode", "flip-bytes", "truncate", "append",
               "delete-block", "delete-meta", "fill-disk")
YARN_FAULTS = ("kill-nodemanager", "kill-resourcemanager", "freeze-node", "kill-container")
NETWORK_FAULTS = ("partition", "degrade-link")


@dataclass
class History:
    """What the clients did and heard; the checker's evidence."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("invoked", "ok", "failed", "unknown"), 0))
    files: dict[str, bytes] = field(default_factory=dict)  # acknowledged: path -> bytes
    directories: set[str] = field(default_factory=set)
    jobs: list = field(default_factory=list)  # faults_jobs.JobRecord
    wrong_reads: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    unhealed: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)  # a client that raised what no caller expects

    def invoke(self) -> None:
        with self.lock:
            self.counts["invoked"] += 1

    def record(self, outcome: str) -> None:
        with self.lock:
            self.counts[outcome] += 1

    def crashed(self, who: str, error: Exception) -> None:
        """A client raised what no caller expects (not an EmrlabError: say, a raw socket error that escaped it):
        a finding. The operation's outcome is unknown."""
        self.record("unknown")
        with self.lock:
            self.crashes.append(f"{who}: {type(error).__name__}: {error}")


def client_for(cluster_dir: ClusterDir) -> Client:
    """A fresh client each time: it reads the NameNode's address again."""
    return Client.for_cluster(cluster_dir)


def writer(cluster_dir: ClusterDir, history: History, index: int, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed * 1000 + index)
    number = 0
    while not stop.is_set():
        number += 1
        path = f"/faults/writer-{index}/file-{number}"
        data = rng.randbytes(rng.randrange(FILE_BYTES_MAX))
        history.invoke()
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
        except Exception as error:  # noqa: BLE001 - what the harness looks for
            history.crashed(f"writing {path}", error)
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
        history.invoke()
        try:
            with client_for(cluster_dir) as client:
                actual = client.read_bytes(path)
        except EmrlabError:
            history.record("failed")
            continue
        except Exception as error:  # noqa: BLE001 - what the harness looks for
            history.crashed(f"reading {path}", error)
            continue
        history.record("ok")
        if actual != expected:
            with history.lock:
                history.wrong_reads.append(path)


# ---------------------------------------------------------------- the nemesis

@dataclass
class Cluster:
    """The cluster under test, and how to put a daemon back where it was."""

    cluster_dir: ClusterDir
    yarn: bool
    network: Network | None = None
    full_disk: Path | None = None  # the tmpfs mount point, if the fill-disk fault can run

    def restart(self, module: str, node_id: str = "", extra_arguments: tuple[str, ...] = ()) -> None:
        placement = self.network.placement(node_id) if self.network and node_id else launcher.Placement()
        launcher.start_daemon(self.cluster_dir, module, node_id, extra_arguments=placement.arguments + extra_arguments,
                              prefix=placement.prefix)

    def node_pids(self, node_id: str) -> list[int]:
        """The node's daemons and containers, each a process group: what a frozen machine stops."""
        names = [f"datanode-{node_id}"] + ([f"nodemanager-{node_id}"] if self.yarn else [])
        pids = [record.pid for record in map(self.cluster_dir.read_daemon, names) if record is not None]
        return pids + list(containers(self.cluster_dir, node_id).values())


def containers(cluster_dir: ClusterDir, node_id: str = "*") -> dict[str, int]:
    """The running containers' pids by container id, from their NodeManagers' pid files."""
    pids = {}
    for pid_file in sorted(cluster_dir.root.glob(f"nodes/{node_id}/nm-local-dir/pids/*.pid")):
        try:
            pids[pid_file.stem] = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # written or removed right now
    return pids


def signal_groups(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def replica_files(cluster_dir: ClusterDir, node_id: str) -> list[Path]:
    root = cluster_dir.node_dir(node_id) / "data" / "current" / "finalized"
    return sorted(path for path in root.rglob("blk_*") if path.suffix != ".meta")


def inject(cluster: Cluster, fault: str, rng: random.Random, picks: random.Random) -> str:
    """Apply one fault, hold it, undo what can be undone; return what was done, for the log.

    `rng` chooses the node and how long; `picks` chooses among what the cluster holds right then (a replica, a
    byte, a container), so that however many there are, the next rounds' nodes and holds replay from the seed."""
    cluster_dir = cluster.cluster_dir
    node_id = f"core-{rng.randrange(1, CORE_NODES + 1)}"
    hold_s = rng.choice((HOLD_S, 3 * HOLD_S))  # the longer hold outlasts the lab's 3 s NodeManager expiry
    if fault == "kill-datanode":
        launcher.kill_daemon(cluster_dir, f"datanode-{node_id}")
        time.sleep(HOLD_S)
        cluster.restart("hdfs.datanode", node_id)
        return f"kill -9 datanode-{node_id}, restarted"
    if fault == "kill-namenode":
        address = cluster_dir.address_of("namenode")
        launcher.kill_daemon(cluster_dir, "namenode")
        cluster.restart("hdfs.namenode", extra_arguments=("-D", f"dfs.namenode.rpc-address={address}"))
        return f"kill -9 namenode, restarted on {address}"
    if fault == "kill-resourcemanager":  # it recovers its applications (yarn.resourcemanager.recovery.enabled)
        address = cluster_dir.address_of("resourcemanager")
        launcher.kill_daemon(cluster_dir, "resourcemanager")
        time.sleep(HOLD_S)
        cluster.restart("yarn.resourcemanager", extra_arguments=("-D", f"yarn.resourcemanager.address={address}"))
        return f"kill -9 resourcemanager, restarted on {address} after {HOLD_S}s"
    if fault == "kill-nodemanager":
        launcher.kill_daemon(cluster_dir, f"nodemanager-{node_id}")
        time.sleep(hold_s)
        cluster.restart("yarn.nodemanager", node_id)
        return f"kill -9 nodemanager-{node_id}, restarted after {hold_s}s"
    if fault in ("freeze-datanode", "freeze-node"):
        pids = cluster.node_pids(node_id)[:1] if fault == "freeze-datanode" else cluster.node_pids(node_id)
        signal_groups(pids, signal.SIGSTOP)
        time.sleep(hold_s)
        signal_groups(pids, signal.SIGCONT)
        return f"SIGSTOP {'datanode-' + node_id if fault == 'freeze-datanode' else node_id} " \
               f"({len(pids)} process group(s)) for {hold_s}s"
    if fault == "kill-container":
        running = containers(cluster_dir)
        if not running:
            return "kill-container: no container running"
        container_id = picks.choice(sorted(running))
        signal_groups([running[container_id]], signal.SIGKILL)
        role = " (an ApplicationMaster)" if container_id.endswith("_000001") else ""
        return f"kill -9 container {container_id}{role}"
    if fault == "fill-disk":
        return fill_disk(cluster, hold_s)
    if fault == "partition":
        cluster.network.partition(node_id)
        time.sleep(hold_s)
        cluster.network.heal_partition(node_id)
        return f"partition {node_id} ({cluster.network.address(node_id)}) for {hold_s}s"
    if fault == "degrade-link":
        what = cluster.network.degrade(node_id)
        time.sleep(2 * hold_s)
        cluster.network.restore(node_id)
        return f"{what} on {node_id}'s link for {2 * hold_s}s"
    return damage_replica(cluster_dir, fault, node_id, picks)


def damage_replica(cluster_dir: ClusterDir, fault: str, node_id: str, rng: random.Random) -> str:
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


# ---------------------------------------------------------------- a full disk

def mount_small_disk(cluster_dir: ClusterDir) -> tuple[Path | None, str]:
    """Mount a small tmpfs as FULL_DISK_NODE's data directory; (its path, "") or (None, why not)."""
    data_dir = cluster_dir.node_dir(FULL_DISK_NODE) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_DISK_MB}m", "tmpfs", str(data_dir)],
                            check=False, capture_output=True, text=True)
    if result.returncode != 0:
        return None, f"fill-disk left out: cannot mount a tmpfs ({result.stderr.strip() or 'mount failed'})"
    return data_dir, ""


def unmount(path: Path) -> None:
    subprocess.run(["umount", "--lazy", str(path)], check=False, capture_output=True)


def fill_disk(cluster: Cluster, hold_s: float) -> str:
    """Fill FULL_DISK_NODE's disk to the last byte, hold, free it again."""
    filler = cluster.full_disk / "filler"
    written = 0
    try:
        with open(filler, "wb") as file:
            while True:
                file.write(b"\0" * (1 << 20))
                file.flush()
                written += 1 << 20
    except OSError:  # ENOSPC: the disk is full
        pass
    time.sleep(2 * hold_s)
    filler.unlink(missing_ok=True)
    usage = shutil.disk_usage(cluster.full_disk)
    return (f"fill {FULL_DISK_NODE}'s {FULL_DISK_MB} MiB disk to the last byte ({written >> 20} MiB more; "
            f"{usage.used >> 20} MiB used without them) for {2 * hold_s}s")


# ---------------------------------------------------------------- healing and checking

def unhealed_reason(cluster: Cluster) -> str:
    """What is not healed yet ("" when `fsck /` is HEALTHY and every NodeManager is RUNNING)."""
    try:
        with client_for(cluster.cluster_dir) as client:
            files, summary = client.fsck("/")
    except EmrlabError as error:
        return f"fsck failed: {error.message}"
    if summary.safe_mode:
        return "the NameNode is in safe mode"
    short = [(entry.status.path, len(block.live_replicas), block.expected_replication,
              sorted(node.node_id for node in block.live_replicas))
             for entry in files if not entry.status.under_construction for block in entry.blocks
             if len(block.live_replicas) < block.expected_replication]
    if short:
        path, live, expected, nodes = short[0]
        return (f"{len(short)} block(s) under-replicated, {summary.live_datanodes} DataNodes live "
                f"(first: {path}, {live} of {expected} on {', '.join(nodes) or 'none'})")
    if cluster.yarn and not nodemanagers_running(cluster.cluster_dir):
        return f"not all {CORE_NODES} NodeManagers RUNNING"
    return ""


def nodemanagers_running(cluster_dir: ClusterDir) -> bool:
    from yarn.client import YarnClient

    try:
        with YarnClient.for_cluster(cluster_dir) as client:
            running = {node.node_id for node in client.nodes(states=("RUNNING",))}
    except EmrlabError:
        return False
    return len(running) == CORE_NODES


def wait_healed(cluster: Cluster) -> str:
    """Wait for the cluster to heal; "" if it did, else what is still wrong."""
    deadline = time.monotonic() + HEAL_TIMEOUT_S
    while True:
        reason = unhealed_reason(cluster)
        if not reason or time.monotonic() > deadline:
            return reason
        time.sleep(0.3)


def check(cluster: Cluster, history: History) -> list[str]:
    """What an acknowledged operation lost, after one more NameNode restart."""
    cluster_dir = cluster.cluster_dir
    address = cluster_dir.address_of("namenode")
    launcher.kill_daemon(cluster_dir, "namenode")
    try:
        cluster.restart("hdfs.namenode", extra_arguments=("-D", f"dfs.namenode.rpc-address={address}"))
    except EmrlabError as error:
        return [f"the NameNode did not restart for the check: {error.message}"]
    reason = wait_healed(cluster)
    lost = [f"the cluster did not heal after the last NameNode restart: {reason}"] if reason else []
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
        lost += faults_jobs.check_jobs(client, history.jobs)
        live = sum(1 for datanode in client.datanode_report().datanodes if datanode.live)
    if live < CORE_NODES:
        lost.append(f"only {live} of {CORE_NODES} DataNodes answer at the end")
    if cluster.yarn and not nodemanagers_running(cluster_dir):
        lost.append(f"not all {CORE_NODES} NodeManagers answer at the end")
    return lost + [f"{path}: a read returned wrong bytes" for path in history.wrong_reads] + \
        [f"not healed after: {fault}" for fault in history.unhealed] + \
        [f"a client raised what it should not: {crash}" for crash in history.crashes]


# ---------------------------------------------------------------- the run

def started_pids(cluster_dir: ClusterDir) -> set[int]:
    return {record.pid for record in cluster_dir.daemons()}


def stop_everything(cluster_dir: ClusterDir, pids: set[int]) -> None:
    """`cluster down`, then SIGKILL any daemon this run started that is somehow still alive.

    By its pid, and only if that pid still runs a daemon of this cluster directory (pids are reused)."""
    pids = pids | started_pids(cluster_dir)
    launch.down(cluster_dir, timeout_s=5)
    for pid in pids:
        try:
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(cluster_dir.root).encode() in command_line:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended in between


def schedule(rng: random.Random, faults: tuple[str, ...], rounds: int) -> list[str]:
    """Every fault once in a shuffled order, then again in another: a short run still tries each kind."""
    order: list[str] = []
    while len(order) < rounds:
        order += rng.sample(faults, len(faults))
    return order[:rounds]


def run(seed: int, rounds: int, directory: Path, say=print, yarn: bool = True, netns: bool = False,
        only: tuple[str, ...] = ()) -> int:
    """Start a cluster in `directory`, run the schedule (of the faults in `only`, if given), check; returns the
    number of losses."""
    cluster_dir = ClusterDir(directory)
    network = Network([f"core-{index}" for index in range(1, CORE_NODES + 1)]) if netns else None
    cluster = Cluster(cluster_dir, yarn, network)
    history = History()
    stop = threading.Event()
    pids: set[int] = set()
    try:
        properties = dict(FAULT_PROPERTIES)
        if network is not None:
            network.create()
            properties.update(network.primary_properties())
            say(f"network: bridge {network.bridge} on {network.primary_address}, nodes in namespaces "
                f"{', '.join(map(network.namespace, network.node_ids))}")
        cluster.full_disk, why_not = mount_small_disk(cluster_dir)
        faults = only or HDFS_FAULTS + (YARN_FAULTS if yarn else ()) + (NETWORK_FAULTS if netns else ())
        if cluster.full_disk is None:
            say(why_not)
            faults = tuple(fault for fault in faults if fault != "fill-disk")
        started = time.monotonic()
        launcher.up(cluster_dir, core=CORE_NODES, properties=properties,
                    services=("hdfs", "yarn") if yarn else ("hdfs",),
                    placement=network.placement if network else lambda node_id: launcher.Placement())
        pids = started_pids(cluster_dir)
        say(f"cluster up in {time.monotonic() - started:.0f}s; faults: {', '.join(faults)}")
        threads = [threading.Thread(target=writer, args=(cluster_dir, history, index, seed, stop),
                                    name=f"writer-{index}", daemon=True)
                   for index in range(WRITERS)]
        threads.append(threading.Thread(target=reader, args=(cluster_dir, history, seed, stop), name="reader",
                                        daemon=True))
        job_threads = [threading.Thread(target=faults_jobs.job_runner, args=(cluster, history, index, seed, stop),
                                        name=f"jobs-{index}", daemon=True)
                       for index in range(JOB_RUNNERS if yarn else 0)]
        rng, picks = random.Random(seed), random.Random(seed + 1_000_003)
        for thread in threads + job_threads:
            thread.start()
        for round_number, fault in enumerate(schedule(rng, faults, rounds), start=1):
            time.sleep(rng.uniform(0.5, 1.5))
            try:
                description = inject(cluster, fault, rng, picks)
            except EmrlabError as error:  # a daemon that does not come back is a finding, not the harness's end
                description = f"{fault}: {error.message}"
                history.unhealed.append(description)
            finally:
                pids |= started_pids(cluster_dir)
            history.faults.append(description)
            started = time.monotonic()
            reason = wait_healed(cluster)
            if reason:
                history.unhealed.append(f"{description}: {reason}")
            say(f"round {round_number}: {description}; "
                f"{f'NOT HEALED: {reason}' if reason else f'healed in {time.monotonic() - started:.1f}s'}")
            if reason:
                say("the schedule stops here: later faults would only pile onto this one")
                break
        stop.set()
        deadline = time.monotonic() + CLIENTS_FINISH_TIMEOUT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        hung = [f"{thread.name}: its operation has not returned {CLIENTS_FINISH_TIMEOUT_S:.0f}s after the nemesis "
                "stopped (a client hang)" for thread in threads if thread.is_alive()]
        deadline = time.monotonic() + JOBS_FINISH_TIMEOUT_S
        for thread in job_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        say("writers, readers and jobs stopped; checking" + (f" ({len(hung)} still hung)" if hung else ""))
        lost = hung + check(cluster, history)
        pids |= started_pids(cluster_dir)
    finally:  # each step even if the one before it failed: no daemon, mount or namespace is left behind
        stop.set()
        try:
            stop_everything(cluster_dir, pids)
        finally:
            try:
                if cluster.full_disk is not None:
                    unmount(cluster.full_disk)
            finally:
                if network is not None:
                    network.close()
    counts, jobs = history.counts, history.jobs
    in_flight = counts["invoked"] - counts["ok"] - counts["failed"] - counts["unknown"]
    say(f"seed {seed}: operations tried {counts['invoked']} (ok {counts['ok']}, failed {counts['failed']}, "
        f"unknown {counts['unknown']}, no answer by the end {in_flight}), faults injected {len(history.faults)}, "
        f"acknowledged files {len(history.files)}, directories {len(history.directories)}, "
        f"jobs {len(jobs)} (succeeded {sum(job.outcome == 'ok' for job in jobs)}, "
        f"failed {sum(job.outcome == 'failed' for job in jobs)}), lost {len(lost)}")
    for diagnostic, count in Counter(job.diagnostic for job in jobs if job.outcome == "failed").most_common(3):
        say(f"job failed ({count}x): {diagnostic[:300]}")
    for line in lost:
        say(f"LOST {line}")
    return len(lost)


def stop_on_sigterm(number, frame) -> None:
    """SIGTERM (say, from `timeout`) still stops the cluster, unmounts and cleans up; a second one waits for that."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="replays a schedule")
    parser.add_argument("--rounds", type=int, default=16, help="faults to inject, one a round")
    parser.add_argument("--netns", action="store_true",
                        help="each worker node in its own network namespace; adds partitions and degraded links")
    parser.add_argument("--hdfs-only", action="store_true", help="no YARN, no jobs: HDFS faults only")
    parser.add_argument("--only", default="", metavar="FAULT,...",
                        help=f"inject only these: {', '.join(HDFS_FAULTS + YARN_FAULTS + NETWORK_FAULTS)}")
    args = parser.parse_args(argv)
    only = tuple(filter(None, args.only.split(",")))
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    unknown = sorted(set(only) - set(HDFS_FAULTS + YARN_FAULTS + NETWORK_FAULTS))
    if unknown:
        parser.error(f"--only: no fault named {', '.join(unknown)}")
    if set(only) & set(YARN_FAULTS) and args.hdfs_only or set(only) & set(NETWORK_FAULTS) and not args.netns:
        parser.error("--only: YARN faults need YARN (drop --hdfs-only), network faults need --netns")
    if args.netns:
        from tests.faults_netns import unavailable_reason

        reason = unavailable_reason()
        if reason:
            print(f"python -m tests.faults: --netns: {reason}", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    logging.getLogger("hdfs").setLevel(logging.ERROR)  # the clients' retries are expected here; the rounds say enough
    with tempfile.TemporaryDirectory(prefix="emrlab-faults-") as directory:
        print(f"seed {args.seed}, {args.rounds} rounds, cluster in {directory} (replay: python -m tests.faults "
              f"--seed {args.seed} --rounds {args.rounds}{' --netns' if args.netns else ''}"
              f"{' --hdfs-only' if args.hdfs_only else ''}{f' --only {args.only}' if only else ''})")
        lost = run(args.seed, args.rounds, Path(directory), yarn=not args.hdfs_only, netns=args.netns, only=only)
        return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
