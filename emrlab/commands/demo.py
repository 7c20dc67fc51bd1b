"""`emrlab demo`: the whole stack in one command, for a first look.

It starts a small managed cluster in a temporary directory (or uses the one
already running): a primary node, core nodes and a task node bought on the
spot market. It writes a generated corpus into HDFS and shows how it was split
into blocks and replicated, runs the word count example on YARN with the live
progress line, and while the maps run EC2 "interrupts" the spot task node: the
notice, the graceful decommission, the kill, the killed attempts running again
elsewhere. Then it prints the most frequent words (the same as without the
interruption), what happened to the instances, the bill with what spot saved,
and where to look next. The cluster is terminated and deleted at the end unless
`--keep` is given, so a first run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import threading
import time
from pathlib import Path

from emrlab import launcher
from emrlab.controller import launch
from emrlab.controller.client import ControllerClient, is_managed
from emrlab.controller.cost import cost_table
from emrlab.controller.definition import definition_from_flags
from emrlab.controller.instancetypes import use_table_from
from emrlab.corpus import write_corpus
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.clusterspec import ClusterSpec
from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.config import format_size, parse_size
from emrlab_common.errors import EmrlabError, FailedPrecondition, InvalidArgument
from emrlab_common.web import cluster_urls

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
    # A lab-sized spot notice (EC2 gives two minutes), a quick replacement, and a NodeManager found LOST in 4 s.
    "emrlab.spot.notice": "3s",
    "emrlab.spot.replacement-delay": "3s",
    "yarn.nm.liveness-monitor.expiry-interval-ms": "4000",
}
START_TIMEOUT_S = 180.0
INTERRUPT_AFTER_MAPS_START_S = 0.5
TOP_WORDS = 10
WORDCOUNT_JOB = "mapreduce.examples.wordcount:WordCount"
WORDCOUNT_SOURCE = "mapreduce/examples/wordcount.py"


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab demo", description=__doc__.split("\n\n")[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="24m", help="size of the generated corpus (default 24m)")
    parser.add_argument("--core", type=int, default=4,
                        help="core nodes of a new cluster (default 4: one can die and every block still gets 3 replicas)")
    parser.add_argument("--task", type=int, default=1,
                        help="spot task nodes of a new cluster (default 1; the first is interrupted mid-job)")
    parser.add_argument("--no-interruption", action="store_true", help="leave the spot task node alone")
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
            _step(1, f"Starting a cluster in {cluster_dir.root}: 1 primary, {args.core} core, {args.task} spot task "
                     "node(s)")
            _start_cluster(cluster_dir, args, context)
            for name, url in cluster_urls(cluster_dir).items():
                print(f"      {name:<16} {url}")
        else:
            _step(1, f"Using the cluster already running in {cluster_dir.root}")
        spec = cluster_dir.read_spec()
        input_path, output_path = _put_corpus(cluster_dir, spec, size_bytes)
        interrupter = None
        if started_here is not None and args.task and not args.no_interruption:
            interrupter = SpotInterrupter(cluster_dir, "task-1")
        job_id, counters = _run_wordcount(cluster_dir, input_path, output_path, args.reducers, interrupter)
        _show_top_words(cluster_dir, output_path)
        if is_managed(cluster_dir):
            _show_instances_and_bill(cluster_dir, counters, interrupter)
        _show_where_to_look(cluster_dir, job_id, kept=started_here is None or args.keep)
    finally:
        if started_here is not None and not args.keep:
            # Stop first, say so after: output piped to `head` may be gone, and the cluster must go regardless.
            launch.down(started_here)
            if not context.dir_flag:
                shutil.rmtree(started_here.root, ignore_errors=True)
            with contextlib.suppress(OSError):
                print(f"\nStopped the cluster and deleted {started_here.root} (use --keep to look around first).")
    return 0


def _start_cluster(cluster_dir: ClusterDir, args, context: CommandContext) -> None:
    use_table_from(context.definitions)
    definition = definition_from_flags(name="emrlab demo", core=args.core, task=args.task,
                                       instance_type_name="m5.xlarge", task_market="SPOT")
    properties = {**launcher.default_properties(), **DEMO_PROPERTIES, "dfs.replication": "3" if args.core >= 4 else str(min(2, args.core)),
                  **context.definitions}
    state = launch.start(cluster_dir, definition, properties, START_TIMEOUT_S, lambda line: print(f"    {line}"))
    if state not in ("RUNNING", "WAITING"):
        raise FailedPrecondition(f"the demo's cluster ended {state}; see {cluster_dir.logs_dir}")


class SpotInterrupter:
    """While the job's maps run, EC2 takes the spot task node back: a notice, then the kill."""

    def __init__(self, cluster_dir: ClusterDir, node_name: str):
        self.cluster_dir = cluster_dir
        self.node_name = node_name
        self.interrupted_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spot-interrupter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from yarn.client import YarnClient

        try:
            with YarnClient.for_cluster(self.cluster_dir) as yarn:
                # An ApplicationMaster and at least one task running: the maps have started.
                while sum(node.num_containers for node in yarn.nodes()) < 2:
                    if self._stop.wait(0.1):
                        return
            if self._stop.wait(INTERRUPT_AFTER_MAPS_START_S):
                return
            with ControllerClient(self.cluster_dir) as client:
                client.interrupt([self.node_name])
            self.interrupted_at = time.time()
            print(f"\n      [spot] EC2 interrupts {self.node_name}: a 3 s notice (YARN stops giving it containers), "
                  "then every process on it is killed", flush=True)
        except EmrlabError as error:
            print(f"\n      [spot] no interruption: {error.message}", flush=True)


def _running_with_yarn(cluster_dir: ClusterDir) -> bool:
    if not cluster_dir.exists() or not launcher.running_daemons(cluster_dir):
        return False
    return "yarn" in cluster_dir.read_spec().services


STEPS = 6


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/{STEPS}] {text}", flush=True)


def _put_corpus(cluster_dir: ClusterDir, spec: ClusterSpec, size_bytes: int) -> tuple[str, str]:
    from hdfs import Client

    user = spec.superuser
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


def _run_wordcount(cluster_dir: ClusterDir, input_path: str, output_path: str, reducers: int,
                   interrupter: SpotInterrupter | None):
    from mapreduce.api.spec import JobSpec
    from mapreduce.runners.cluster import ClusterRunner
    from mapreduce.runners.monitor import JobMonitor

    _step(3, f"Running word count on YARN: a map task per block, {reducers} reduce task(s)")
    print(f"      (the same job as `emrlab examples wordcount {input_path} {output_path}`; "
          f"its code is {WORDCOUNT_SOURCE})", flush=True)
    spec = JobSpec(job_reference=WORDCOUNT_JOB, input_paths=(input_path,), output_dir=output_path,
                   properties={"mapreduce.job.reduces": str(reducers)}, cluster_dir=str(cluster_dir.root),
                   job_name="demo word count")
    if interrupter is not None:
        interrupter.start()
    try:
        result = ClusterRunner().run(spec, JobMonitor())
    finally:
        if interrupter is not None:
            interrupter.stop()
    return result.job_id, result.counters


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


def _show_instances_and_bill(cluster_dir: ClusterDir, counters, interrupter: SpotInterrupter | None) -> None:
    group = "org.apache.hadoop.mapreduce.JobCounter"
    killed = counters.get(group, "NUM_KILLED_MAPS") + counters.get(group, "NUM_KILLED_REDUCES")
    rerun = counters.get(group, "NUM_MAPS_RERUN_OUTPUT_LOST")
    _step(5, "What the spot market did, and what the cluster cost")
    if interrupter is not None and interrupter.interrupted_at is not None:
        print(f"      {killed} attempt(s) were KILLED with the spot node (not FAILED: they use up no retries) and "
              f"ran again elsewhere; {rerun} finished map(s) ran again because their output was lost with it.")
        print("      The words above are exactly what they would have been without the interruption.")
    with ControllerClient(cluster_dir) as client:
        deadline = time.monotonic() + 10
        while interrupter is not None and interrupter.interrupted_at is not None and time.monotonic() < deadline:
            states = [item["Status"]["State"] for item in client.list_instances("TASK")["Instances"]]
            if "TERMINATED" in states:
                break
            time.sleep(0.2)
        for item in client.list_instances()["Instances"]:
            reason = item["Status"].get("StateChangeReason", {}).get("Message", "")
            print(f"      {item['PrivateDnsName']:<8} {item['Id']}  {item['InstanceGroupType']:<6} {item['Market']:<9} "
                  f"{item['Status']['State']:<20} {reason}")
        print()
        for line in cost_table(client.cost()).splitlines():
            print(f"      {line}")


def _show_where_to_look(cluster_dir: ClusterDir, job_id: str, kept: bool) -> None:
    application_id = job_id.replace("job_", "application_", 1)
    _step(6, "Where to look next")
    if kept:
        print(f"      The cluster is still running. In this shell: export EMRLAB_CLUSTER={cluster_dir.root}")
    else:
        print("      Run `emrlab demo --keep` to leave the cluster running, export the EMRLAB_CLUSTER it prints, then:")
    for command, why in LOOK_AROUND:
        command = command.format(job_id=job_id, application_id=application_id)
        print(f"        emrlab {command:<44} # {why}")
    print("      Break it on purpose: `kill -9` the pid of datanode-core-1 (from `cluster status`): the controller")
    print("      replaces the instance at once (`cluster list-instances`), and `emrlab fsck /` shows its blocks")
    print("      under-replicated after 20 s of silence, then copied back to 3 replicas on the others.")
    if kept:
        print("      Stop it with: emrlab cluster down --delete")


LOOK_AROUND = (
    ("cluster list-instances", "the instances: the interrupted one TERMINATED, its replacement"),
    ("cluster urls", "the web pages: the controller's, the NameNode's, the ResourceManager's"),
    ("cluster status", "every daemon, its pid and port"),
    ("fsck / -files -blocks -locations", "every block and where its replicas are"),
    ("dfsadmin -report", "DataNodes, capacity, live and dead"),
    ("node -list -all", "NodeManagers, their labels and containers"),
    ("application -list -appStates ALL", "the YARN applications, the demo's job among them"),
    ("job -history {job_id}", "the demo job's tasks, attempts, nodes and times"),
    ("logs -applicationId {application_id}", "every container's stdout and stderr"),
)
