"""HDFS put/get throughput against `cp` and a plain Python socket copy, measured in one run on this machine.

    python -m benchmarks.hdfs_throughput                 # 1 GiB, 3 DataNodes, 128 MiB blocks, 3 runs
    python -m benchmarks.hdfs_throughput --size 256m --runs 5

Starts a real 3-core-node cluster in a temporary directory, then times
`emrlab dfs -put` at replication 1 and 3 and `emrlab dfs -get` (the commands a
user types, process start-up included) against two references on the same
file, and prints medians and ratios. The data is random, so nothing compresses.

- `cp` (copy_file_range: the bytes never leave the kernel, so it says little
  about what a user-space data path can reach);
- a socket copy: this process reads the file and sends it over a loopback TCP
  connection to a second Python process that writes it to a new file, 1 MiB
  at a time: the physical reference for any data path in Python that crosses
  a process boundary, as every HDFS byte does.

Block bytes go over the DataNodes' streaming port (hdfs/datatransfer.py); the
"over gRPC" rows move the same bytes in gRPC messages instead
(`-D emrlab.client.streaming-transfer=false`), to show what the streaming
protocol buys. CPU is every process's share: the command's, and the
DataNodes' and NameNode's meanwhile (less sensitive to a busy machine than
wall time, which the ratios use).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import children_cpu_s, measure
from emrlab import launcher
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import parse_size

WRITE_CHUNK_BYTES = 16 << 20
COPY_CHUNK_BYTES = 1 << 20
RECEIVER = """
import socket, sys
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
connection, _ = listener.accept()
with open(sys.argv[1], "wb") as output:
    while data := connection.recv(1 << 20):
        output.write(data)
"""


def timed(command: list[str], environment: dict | None = None,
          daemon_pids: tuple[int, ...] = ()) -> tuple[float, float]:
    """(wall s, CPU s) of `command` and the daemons meanwhile, started with no dirty pages left over."""
    os.sync()
    measurement = measure(command, daemon_pids, environment)
    return measurement.wall_s, measurement.cpu_s


def socket_copy_s(source: Path, target: Path) -> tuple[float, float]:
    """(wall s, CPU s) to copy `source` to `target` through a loopback socket between two processes."""
    os.sync()
    started, cpu_started = time.perf_counter(), time.process_time() + children_cpu_s()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(target)], stdout=subprocess.PIPE, text=True)
    port = int(receiver.stdout.readline())
    with socket.create_connection(("127.0.0.1", port), timeout=600) as connection, open(source, "rb") as file:
        while chunk := file.read(COPY_CHUNK_BYTES):
            connection.sendall(chunk)
    receiver.wait(timeout=600)
    return time.perf_counter() - started, time.process_time() + children_cpu_s() - cpu_started


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as file:
        remaining = size
        while remaining:
            chunk = os.urandom(min(WRITE_CHUNK_BYTES, remaining))
            file.write(chunk)
            remaining -= len(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1g", help="file size (default 1g)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--block-size", default="128m", help="dfs.blocksize (default Hadoop's 128m)")
    parser.add_argument("--datanodes", type=int, default=3)
    args = parser.parse_args()
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="emrlab-bench-"))
    cluster_dir = ClusterDir(work / "cluster")
    source = work / "data.bin"
    try:
        make_file(source, size)
        environment = dict(os.environ, EMRLAB_CLUSTER=str(cluster_dir.root))
        emrlab = [sys.executable, "-m", "emrlab"]
        launcher.up(cluster_dir, core=args.datanodes, properties={"dfs.blocksize": args.block_size, **dict(p.split("=", 1) for p in os.environ.get("BENCH_PROPS", "").split(",") if p)})
        daemons = tuple(record.pid for record in cluster_dir.daemons())
        grpc_only = ["-D", "emrlab.client.streaming-transfer=false"]
        results: dict[str, list[tuple[float, float]]] = {}
        for run in range(args.runs):
            copy = work / "copy.bin"
            results.setdefault("cp", []).append(timed(["cp", str(source), str(copy)]))
            copy.unlink()
            results.setdefault("socket copy", []).append(socket_copy_s(source, copy))
            assert copy.stat().st_size == size
            copy.unlink()
            subprocess.run([*emrlab, "dfs", "-mkdir", "-p", "/bench"], env=environment, check=True)
            variants = [("", []), (" over gRPC", grpc_only)]
            if run % 2:
                variants.reverse()  # each path goes first in half the runs: neither always meets a cold cache
            for replication in (1, 3):
                for label, flags in variants:
                    target = f"/bench/r{replication}{label.strip()}-{run}.bin"
                    results.setdefault(f"put, replication {replication}{label}", []).append(timed(
                        [*emrlab, "dfs", *flags, "-D", f"dfs.replication={replication}", "-put", str(source), target],
                        environment, daemons))
            for label, flags in variants:
                results.setdefault(f"get{label}", []).append(timed(
                    [*emrlab, "dfs", *flags, "-get", f"/bench/r3-{run}.bin", str(copy)], environment, daemons))
                assert copy.stat().st_size == size and filecmp.cmp(source, copy, shallow=False)
                copy.unlink()
            subprocess.run([*emrlab, "dfs", "-rm", "-r", "/bench"], env=environment, check=True,
                           stdout=subprocess.DEVNULL)
        baseline = statistics.median(wall for wall, _ in results["cp"])
        socket_s = statistics.median(wall for wall, _ in results["socket copy"])
        print(f"\nHDFS throughput: {args.size} file, {args.datanodes} DataNodes, {args.block_size} blocks, "
              f"median of {args.runs} runs, {os.cpu_count()} CPUs\n")
        print(f"{'operation':<28} {'median s':>9} {'CPU s':>7} {'MB/s':>8} {'vs cp':>7} {'vs socket':>10}")
        for name, runs in results.items():
            median = statistics.median(wall for wall, _ in runs)
            cpu = statistics.median(cpu for _, cpu in runs)
            print(f"{name:<28} {median:9.2f} {cpu:7.2f} {size / median / 1e6:8.0f} {baseline / median:7.0%} "
                  f"{socket_s / median:10.0%}")
    finally:
        launcher.down(cluster_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
