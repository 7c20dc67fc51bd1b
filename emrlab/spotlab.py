"""The spot lab: the same job on on-demand task nodes and on spot task nodes at several interruption rates.

    emrlab spot experiment --job wordcount --input corpus.txt --task-nodes 3 --rates 0,2,8 --seed 1 --runs 3

For each configuration (task nodes on demand; then on spot at each rate, in
interruptions per minute per instance) it starts a fresh managed cluster from
the same definition (so one configuration's replacements and bills never leak
into another's), puts the input into HDFS, runs the job `--runs` times, checks
every output against the first on-demand run's, and tears the cluster down.
It prints a table (median completion time, interruptions, killed and re-run
map attempts, the job's cost and the same instance-seconds all on demand) and
writes the raw results as JSON and, with matplotlib (`pip install
'emrlab[plot]'`), a PNG of time and cost against the rate.

A job's cost is its share of the cluster: every instance's seconds while the
job ran, at the price then in force (cost.window_cost).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emrlab import launcher
from emrlab.controller import launch
from emrlab.controller.client import controller_dir
from emrlab.controller.cost import window_cost
from emrlab.controller.definition import definition_from_flags
from emrlab.controller.instancetypes import use_table_from
from emrlab.controller.journal import read_state
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.command import CommandContext
from emrlab_common.config import parse_size
from emrlab_common.errors import FailedPrecondition, InvalidArgument

JOBS = {"wordcount": "mapreduce.examples.wordcount:WordCount", "grep": "mapreduce.examples.grep:Grep"}
START_TIMEOUT_S = 180.0
# Lab timing on top of the cluster's: the RM and NameNode notice a killed node in seconds, not 20 s.
LAB_PROPERTIES = {
    "dfs.heartbeat.interval": "0.5",
    "dfs.namenode.heartbeat.recheck-interval": "2000",
    "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms": "200",
    "yarn.nm.liveness-monitor.expiry-interval-ms": "4000",
}


def add_arguments(parser) -> None:
    parser.add_argument("--job", default="wordcount", help=f"a built-in job ({', '.join(JOBS)}) or module:Class")
    parser.add_argument("--input", required=True, help="a local file (put into each cluster's HDFS) or hdfs:///PATH")
    parser.add_argument("--task-nodes", type=int, default=3, help="task nodes (default 3)")
    parser.add_argument("--core-nodes", type=int, default=2, help="core nodes (default 2)")
    parser.add_argument("--rates", default="0,2,8", help="spot interruption rates per minute per instance (default 0,2,8)")
    parser.add_argument("--seed", type=int, default=1, help="the market's seed (default 1)")
    parser.add_argument("--runs", type=int, default=1, help="runs per configuration; the table shows medians")
    parser.add_argument("--notice", default="5s", help="the interruption notice (default 5s; EC2 gives 2m)")
    parser.add_argument("--replacement-delay", default="5s", help="before a replacement is asked for (default 5s)")
    parser.add_argument("--block-size", default="4m", help="dfs.blocksize, so the input has several maps (default 4m)")
    parser.add_argument("--reduces", type=int, default=2, help="reduce tasks (default 2)")
    parser.add_argument("--instance-type", default="m5.xlarge")
    parser.add_argument("--results", default="spot-lab", help="where results.json and results.png go (default ./spot-lab)")


@dataclass
class Run:
    market: str
    rate_per_min: float
    run: int
    seconds: float
    interruptions: int
    killed_map_attempts: int
    maps_rerun: int
    preempted_attempts: int
    cost_usd: float
    on_demand_usd: float
    output_sha256: str
    identical: bool = True


@dataclass
class Experiment:
    job: str
    input: str
    task_nodes: int
    core_nodes: int
    seed: int
    notice: str
    runs: list[Run] = field(default_factory=list)


def _configurations(rates_text: str) -> list[tuple[str, float]]:
    try:
        rates = [float(item) for item in rates_text.split(",") if item.strip()]
    except ValueError:
        raise InvalidArgument(f"--rates must be numbers per minute, e.g. 0,2,8 (not {rates_text!r})") from None
    if not rates or any(rate < 0 for rate in rates):
        raise InvalidArgument("--rates must be one or more rates per minute, none negative")
    return [("ON_DEMAND", 0.0)] + [("SPOT", rate) for rate in rates]


def run_experiment(args, context: CommandContext) -> int:
    if args.runs < 1 or args.task_nodes < 1 or args.core_nodes < 1:
        raise InvalidArgument("--runs, --task-nodes and --core-nodes must be at least 1")
    job = JOBS.get(args.job, args.job)
    if ":" not in job:
        raise InvalidArgument(f"--job must be one of {', '.join(JOBS)} or module:Class")
    local_input = None if args.input.startswith("hdfs://") else Path(args.input).expanduser()
    if local_input is not None and not local_input.is_file():
        raise InvalidArgument(f"--input {args.input}: no such file")
    use_table_from(context.properties())
    configurations = _configurations(args.rates)
    results_dir = Path(args.results).expanduser().absolute()
    results_dir.mkdir(parents=True, exist_ok=True)
    experiment = Experiment(args.job, args.input, args.task_nodes, args.core_nodes, args.seed, args.notice)
    for market_name, rate in configurations:
        print(f"--- task nodes {market_name}" + (f" at {rate:g} interruption(s)/min" if market_name == "SPOT" else ""),
              flush=True)
        experiment.runs += _run_configuration(args, context, job, local_input, market_name, rate)
        (results_dir / "results.json").write_text(json.dumps(asdict(experiment), indent=2) + "\n")
    reference = experiment.runs[0].output_sha256
    for run in experiment.runs:
        run.identical = run.output_sha256 == reference
    (results_dir / "results.json").write_text(json.dumps(asdict(experiment), indent=2) + "\n")
    print()
    print(results_table(experiment))
    print(f"\nraw results: {results_dir / 'results.json'}")
    plotted = plot(experiment, results_dir / "results.png")
    print(f"plot: {plotted}" if plotted else "plot: install matplotlib (pip install 'emrlab[plot]') for results.png")
    return 0 if all(run.identical for run in experiment.runs) else 1


def _run_configuration(args, context: CommandContext, job: str, local_input: Path | None, market_name: str,
                       rate: float) -> list[Run]:
    from hdfs import Client
    from mapreduce.api.spec import JobSpec
    from mapreduce.runners.cluster import ClusterRunner
    from mapreduce.runners.monitor import JobMonitor

    definition = definition_from_flags(name=f"spot lab {market_name} {rate:g}/min", core=args.core_nodes,
                                       task=args.task_nodes, instance_type_name=args.instance_type,
                                       task_market=market_name)
    properties = {**launcher.default_properties(), **LAB_PROPERTIES, "dfs.blocksize": str(parse_size(args.block_size)), "dfs.replication": "2",
                  "emrlab.spot.seed": str(args.seed), "emrlab.spot.interruption-rate": f"{rate}/min",
                  "emrlab.spot.notice": args.notice, "emrlab.spot.replacement-delay": args.replacement_delay,
                  **context.definitions}
    scratch = Path(tempfile.mkdtemp(prefix="emrlab-spot-lab-"))
    cluster_dir = ClusterDir(scratch / "cluster")
    runs = []
    try:
        state = launch.start(cluster_dir, definition, properties, START_TIMEOUT_S)
        if state not in ("RUNNING", "WAITING"):
            raise FailedPrecondition(f"the lab's cluster ended {state}; see {cluster_dir.logs_dir}")
        input_path = args.input
        if local_input is not None:
            input_path = "/lab/input/" + local_input.name
            with Client.for_cluster(cluster_dir) as client:
                client.mkdirs("/lab/input")
                client.upload(local_input, input_path)
        for number in range(1, args.runs + 1):
            output_path = f"/lab/output/run-{number}"
            spec = JobSpec(job_reference=job, input_paths=(input_path,), output_dir=output_path,
                           properties={"mapreduce.job.reduces": str(args.reduces)}, cluster_dir=str(cluster_dir.root),
                           job_name=f"spot lab {market_name} {rate:g}/min run {number}")
            started_s = time.time()
            result = ClusterRunner().run(spec, JobMonitor(quiet=True))
            ended_s = time.time()
            journal_state = read_state(controller_dir(cluster_dir))
            share = window_cost(journal_state, started_s, ended_s)
            interruptions = sum(1 for instance in journal_state.instances.values()
                                if instance.notice_s is not None and started_s <= instance.notice_s <= ended_s)
            counters = result.counters
            group = "org.apache.hadoop.mapreduce.JobCounter"
            run = Run(market_name, rate, number, round(ended_s - started_s, 2), interruptions,
                      counters.get(group, "NUM_KILLED_MAPS"), counters.get(group, "NUM_MAPS_RERUN_OUTPUT_LOST"),
                      counters.get(group, "NUM_PREEMPTED_ATTEMPTS"), round(share["Total"], 6),
                      round(share["OnDemandEquivalent"], 6), _output_digest(cluster_dir, output_path))
            print(f"    run {number}: {run.seconds:.1f}s, {interruptions} interruption(s), "
                  f"{run.killed_map_attempts} killed map attempt(s), {run.maps_rerun} map(s) re-run, "
                  f"${run.cost_usd:.5f}", flush=True)
            runs.append(run)
    finally:
        launch.down(cluster_dir, timeout_s=5)
        shutil.rmtree(scratch, ignore_errors=True)
    return runs


def _output_digest(cluster_dir: ClusterDir, output_path: str) -> str:
    """A digest of the job's output, independent of how it was split into part files."""
    from hdfs import Client

    digest = hashlib.sha256()
    with Client.for_cluster(cluster_dir) as client:
        lines = sorted(line for part in client.glob(f"{output_path}/part-*")
                       for line in client.read_bytes(part).splitlines())
    for line in lines:
        digest.update(line + b"\n")
    return digest.hexdigest()


def _median(values) -> float:
    return statistics.median(values) if values else 0.0


def summary(experiment: Experiment) -> list[dict]:
    rows = []
    keys = []
    for run in experiment.runs:
        if (run.market, run.rate_per_min) not in keys:
            keys.append((run.market, run.rate_per_min))
    for market_name, rate in keys:
        runs = [run for run in experiment.runs if (run.market, run.rate_per_min) == (market_name, rate)]
        rows.append({"market": market_name, "rate_per_min": rate, "runs": len(runs),
                     "median_s": _median([run.seconds for run in runs]),
                     "interruptions": sum(run.interruptions for run in runs),
                     "killed_map_attempts": sum(run.killed_map_attempts for run in runs),
                     "maps_rerun": sum(run.maps_rerun for run in runs),
                     "median_cost_usd": _median([run.cost_usd for run in runs]),
                     "median_on_demand_usd": _median([run.on_demand_usd for run in runs]),
                     "identical": all(run.identical for run in runs)})
    return rows


def results_table(experiment: Experiment) -> str:
    header = (f"{'TASK MARKET':<11} {'RATE/MIN':>8} {'RUNS':>4} {'TIME s':>7} {'INTERRUPTS':>10} {'KILLED MAPS':>11} "
              f"{'MAPS RE-RUN':>11} {'JOB COST $':>10} {'ON-DEMAND $':>11} {'SAVED':>6}  OUTPUT IDENTICAL")
    lines = [header]
    for row in summary(experiment):
        saved = 1 - row["median_cost_usd"] / row["median_on_demand_usd"] if row["median_on_demand_usd"] else 0.0
        lines.append(f"{row['market']:<11} {row['rate_per_min']:>8g} {row['runs']:>4} {row['median_s']:>7.1f} "
                     f"{row['interruptions']:>10} {row['killed_map_attempts']:>11} {row['maps_rerun']:>11} "
                     f"{row['median_cost_usd']:>10.5f} {row['median_on_demand_usd']:>11.5f} {saved:>6.0%}  "
                     f"{'yes' if row['identical'] else 'NO'}")
    return "\n".join(lines)


def plot(experiment: Experiment, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        return None
    rows = summary(experiment)
    spot = [row for row in rows if row["market"] == "SPOT"]
    on_demand = [row for row in rows if row["market"] == "ON_DEMAND"]
    figure, (time_axis, cost_axis) = pyplot.subplots(1, 2, figsize=(10, 4))
    rates = [row["rate_per_min"] for row in spot]
    time_axis.plot(rates, [row["median_s"] for row in spot], "o-", label="spot task nodes")
    cost_axis.plot(rates, [row["median_cost_usd"] for row in spot], "o-", label="spot task nodes")
    for row in on_demand:
        time_axis.axhline(row["median_s"], color="grey", linestyle="--", label="on-demand task nodes")
        cost_axis.axhline(row["median_cost_usd"], color="grey", linestyle="--", label="on-demand task nodes")
    time_axis.set(xlabel="interruptions per minute per spot instance", ylabel="job time, median (s)",
                  title="Time")
    cost_axis.set(xlabel="interruptions per minute per spot instance", ylabel="job cost, median (USD)",
                  title="Cost")
    for axis in (time_axis, cost_axis):
        axis.legend()
        axis.grid(alpha=0.3)
    figure.suptitle(f"spot lab: {experiment.job}, {experiment.task_nodes} task node(s), seed {experiment.seed}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
