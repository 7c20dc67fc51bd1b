"""`emrlab demo`: the whole stack in one command, for a first look.

It starts a small cluster in a temporary directory (or uses the one already
running), writes a generated corpus into HDFS and shows how it was split into
blocks and replicated, runs the word count example on YARN with the live
progress line, prints the most frequent words and the job's counters, and says
where to look next. The cluster is stopped and deleted at the end unless
`--keep` is given, so a first run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from emrlab import launcher
from emrlab.corpus import write_corpus
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.config import format_size, parse_size
from emrlab_common.errors import InvalidArgument

EPILOG = """examples:
  emrlab demo                      # start, run, show, tear down
  emrlab demo --keep               # ... and leave the cluster running to look around
  emrlab demo --size 64m --core 4 --task 2
"""
DEMO_PROPERTIES = {
    # Small blocks so that a demo-sized file has several of them, and quick
    # heartbeats so that tasks start in a fraction of a second.
    "dfs.blocksize": "4m",
    "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms": "200",
    "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms": "200",
}
TOP_WORDS = 10
WORDCOUNT_JOB = "mapreduce.examples.wordcount:WordCount"
WORDCOUNT_SOURCE = "mapreduce/examples/wordcount.py"


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab demo", description=__doc__.split("\n\n")[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="24m", help="size of the generated corpus (default 24m)")
    parser.add_argument("--core", type=int, default=4,
                        help="core nodes of a new cluster (default 4: one can die and every block still gets 3 replicas)")
    parser.add_argument("--task", type=int, default=1, help="task nodes of a new cluster (default 1)")
    parser.add_argument("--reducers", type=int, default=2, help="reduce tasks (default 2)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running at the end")
    args = parser.parse_args(argv)
    size_bytes = parse_size(args.size)
    if size_bytes < 1:
        raise InvalidArgument("--size must be at least 1 byte")

    started_here = None
    cluster_dir = context.cluster_dir
    if not _running_with_yarn(cluster_dir):
        root = Path(context.dir_flag) if context.dir_flag else Path(tempfile.mkdtemp(prefix="emrlab-demo-"))
        cluster_dir = ClusterDir(root)
        started_here = cluster_dir
    try:
        if started_here is not None:
            _step(1, f"Starting a cluster in {cluster_dir.root}: 1 primary, {args.core} core, {args.task} task node(s)")
            launcher.up(cluster_dir, core=args.core, task=args.task,
                        properties={**DEMO_PROPERTIES, **context.definitions},
                        progress=lambda line: print(f"      {line}", flush=True))
        else:
            _step(1, f"Using the cluster already running in {cluster_dir.root}")
        spec = cluster_dir.read_spec()
        input_path, output_path = _put_corpus(cluster_dir, spec, size_bytes)
        job_id = _run_wordcount(cluster_dir, input_path, output_path, args.reducers)
        _show_top_words(cluster_dir, output_path)
        _show_where_to_look(cluster_dir, job_id, kept=started_here is None or args.keep)
    finally:
        if started_here is not None and not args.keep:
            print(f"\nStopping the cluster and deleting {started_here.root} (use --keep to look around first).")
            launcher.down(started_here)
            if not context.dir_flag:
                shutil.rmtree(started_here.root, ignore_errors=True)
    return 0


def _running_with_yarn(cluster_dir: ClusterDir) -> bool:
    if not cluster_dir.exists() or not launcher.running_daemons(cluster_dir):
        return False
    return "yarn" in cluster_dir.read_spec().get("services", [])


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/5] {text}", flush=True)


def _put_corpus(cluster_dir: ClusterDir, spec: dict, size_bytes: int) -> tuple[str, str]:
    from hdfs import Client

    user = spec["superuser"]
    run = time.strftime("%Y%m%d-%H%M%S")
    input_path, output_path = f"/user/{user}/demo/{run}/corpus.txt", f"/user/{user}/demo/{run}/wordcount"
    _step(2, f"Writing a {format_size(size_bytes)}B corpus into HDFS at {input_path}")
    with tempfile.TemporaryDirectory(prefix="emrlab-corpus-") as scratch:
        local = write_corpus(Path(scratch) / "corpus.txt", size_bytes)
        with Client.for_cluster(cluster_dir, user=user) as client:
            client.mkdirs(str(Path(input_path).parent))
            client.upload(local, input_path)
            status = client.status(input_path)
            blocks = client.block_locations(input_path)
    print(f"      the NameNode split it into {len(blocks)} block(s) of at most {format_size(status.block_size_bytes)}B, "
          f"each kept on {status.replication} DataNode(s):")
    shown = blocks[:6]
    for index, block in enumerate(shown):
        print(f"        block {index}  bytes {block.offset_bytes}-{block.offset_bytes + block.length_bytes - 1}  on {', '.join(block.hosts)}")
    if len(blocks) > len(shown):
        print(f"        ... and {len(blocks) - len(shown)} more (see them all: emrlab fsck {input_path} -files -blocks -locations)")
    return input_path, output_path


def _run_wordcount(cluster_dir: ClusterDir, input_path: str, output_path: str, reducers: int) -> str:
    from mapreduce.monitor import JobMonitor
    from mapreduce.runners.cluster import ClusterRunner
    from mapreduce.runners.spec import JobSpec

    _step(3, f"Running word count on YARN: a map task per block, {reducers} reduce task(s)")
    print(f"      (the same job as `emrlab examples wordcount {input_path} {output_path}`; "
          f"its code is {WORDCOUNT_SOURCE})", flush=True)
    spec = JobSpec(job_reference=WORDCOUNT_JOB, input_paths=(input_path,), output_dir=output_path,
                   properties={"mapreduce.job.reduces": str(reducers)}, cluster_dir=str(cluster_dir.root),
                   job_name="demo word count")
    return ClusterRunner().run(spec, JobMonitor()).job_id


def _show_top_words(cluster_dir: ClusterDir, output_path: str) -> None:
    from hdfs import Client

    counts: list[tuple[int, str]] = []
    with Client.for_cluster(cluster_dir) as client:
        parts = client.glob(f"{output_path}/part-*")
        for part in parts:
            for line in client.read_bytes(part).decode().splitlines():
                word, _, count = line.partition("\t")
                counts.append((int(count), word))
    counts.sort(reverse=True)
    _step(4, f"The {TOP_WORDS} most frequent words, from {len(parts)} part file(s) in {output_path}")
    width = max((len(word) for _, word in counts[:TOP_WORDS]), default=4)
    for count, word in counts[:TOP_WORDS]:
        print(f"      {word:<{width}}  {count:>10,}")
    print(f"      ... {len(counts):,} distinct words in all")


def _show_where_to_look(cluster_dir: ClusterDir, job_id: str, kept: bool) -> None:
    application_id = job_id.replace("job_", "application_", 1)
    _step(5, "Where to look next")
    if kept:
        print(f"      The cluster is still running. In this shell: export EMRLAB_CLUSTER={cluster_dir.root}")
    else:
        print("      Run `emrlab demo --keep` to leave the cluster running, export the EMRLAB_CLUSTER it prints, then:")
    for command, why in LOOK_AROUND:
        command = command.format(job_id=job_id, application_id=application_id)
        print(f"        emrlab {command:<44} # {why}")
    print("      Break it on purpose: `kill -9` the pid of datanode-core-1 (from `cluster status`), then run")
    print("      `emrlab fsck /` every few seconds: after 20 s of silence the DataNode is dead, its blocks are")
    print("      under-replicated, and within seconds more they are copied back to 3 replicas on the others.")
    if kept:
        print("      Stop it with: emrlab cluster down --delete")


LOOK_AROUND = (
    ("cluster status", "every daemon, its pid and port"),
    ("fsck / -files -blocks -locations", "every block and where its replicas are"),
    ("dfsadmin -report", "DataNodes, capacity, live and dead"),
    ("node -list -all", "NodeManagers, their labels and containers"),
    ("application -list -appStates ALL", "the YARN applications, the demo's job among them"),
    ("job -history {job_id}", "the demo job's tasks, attempts, nodes and times"),
    ("logs -applicationId {application_id}", "every container's stdout and stderr"),
)
