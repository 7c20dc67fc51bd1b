"""`emrlab cluster ...`: a managed cluster's whole life, in `aws emr`'s words.

    up [--config cluster.json | --core N --task M ...]   create (or bring back) a cluster; return once it runs
    down [--delete]                                       stop its processes; `up` brings the same cluster back
    status | describe | list-instances | list            what it is and what it has
    resize | modify | terminate | wait                    change it, end it, wait for it
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from emrlab import launcher
from emrlab.controller import launch, views
from emrlab.controller.client import ControllerClient, controller_running, is_managed
from emrlab.controller.cost import cost_table
from emrlab.controller.definition import (
    ClusterDefinition,
    definition_from_flags,
    load_definition_file,
    parse_definition,
    parse_scaling_policy,
)
from emrlab.controller.instancetypes import instance_type, machine_capacity, scaled_resources, use_table_from
from emrlab.controller.launch import follow, write_definition
from emrlab.controller.market import settings_from_properties
from emrlab.controller.records import (
    TERMINAL_CLUSTER_STATES,
    ClusterState,
    Market,
    Role,
)
from emrlab_common import tls
from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.config import parse_seconds, parse_size
from emrlab_common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument
from yarn.nodemanager.linuxexecutor import reachable_problem

EPILOG = """examples:
  emrlab cluster up --core 3 --task 1 --block-size 1m      # a cluster in ~/.emrlab/cluster
  emrlab cluster up --config cluster.json                   # RunJobFlow's JSON, as for `aws emr create-cluster`
  emrlab --dir /tmp/lab cluster up --core 4 -D dfs.replication=2
  emrlab cluster describe --output json
  emrlab cluster list-instances
  emrlab cluster resize --group task --count 3
  emrlab cluster down            # stop the processes; HDFS data and the journal stay for the next `up`
  emrlab cluster terminate       # end the cluster for good (its logs stay)
"""
UP_TIMEOUT_S = 300.0
POLL_S = 0.25
# What --secure turns on (HDFS's own keys; simple mode, where the user name is believed, stays the lab default).
SECURE_PROPERTIES = {"dfs.block.access.token.enable": "true", "hadoop.security.authentication": "token",
                     "yarn.nodemanager.container-executor.class": "LinuxContainerExecutor",  # containers as their users
                     **tls.SECURE_PROPERTIES}  # and mutual TLS from a cluster CA for every gRPC and HTTP endpoint
WAIT_STATES = {"running": ("RUNNING", "WAITING"), "terminated": ("TERMINATED", "TERMINATED_WITH_ERRORS")}


def _parser() -> CommandParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = CommandParser(prog="emrlab cluster", description="Create, inspect, change and end a managed cluster.",
                           epilog=EPILOG, formatter_class=formatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="create a cluster (or bring a stopped one back) and wait until it runs",
                            epilog=EPILOG, formatter_class=formatter)
    up.add_argument("--config", metavar="FILE", help="a RunJobFlow JSON definition (PATH or file://PATH)")
    up.add_argument("--name", default="emrlab cluster", help="the cluster's Name")
    up.add_argument("--core", "--datanodes", type=int, default=3, dest="core",
                    help="core nodes (a DataNode and a NodeManager each; default 3)")
    up.add_argument("--task", type=int, default=0, help="task nodes (a NodeManager each, no HDFS data; default 0)")
    up.add_argument("--instance-type", default="m5.xlarge", help="EC2 instance type of every node (default m5.xlarge)")
    up.add_argument("--task-market", choices=("on_demand", "spot"), default="on_demand", type=str.lower,
                    help="buy the task nodes on demand (default) or on the spot market")
    up.add_argument("--spot-notice", metavar="DURATION", help="an interruption's notice (EC2: 2m; labs: 10s)")
    up.add_argument("--spot-interruption-rate", metavar="RATE",
                    help="per spot instance: 2/min, 10/h, or an Advisor bucket such as '5-10%%' (per month)")
    up.add_argument("--spot-seed", type=int, help="the market's seed: the same seed, the same interruptions")
    up.add_argument("--bootstrap-action", action="append", default=[], metavar="PATH",
                    help="a script to run on every instance before its daemons start (repeatable)")
    up.add_argument("--block-size", help="dfs.blocksize for new files, e.g. 1m or 128m")
    up.add_argument("--replication", type=int, help="dfs.replication (default: sized to the core group, as EMR does)")
    up.add_argument("--auto-terminate", action="store_true", help="end the cluster when its steps are done")
    up.add_argument("--termination-protected", action="store_true", help="refuse `terminate` until it is lifted")
    up.add_argument("--auto-termination-idle-timeout", metavar="DURATION",
                    help="end the cluster after it has been idle this long, e.g. 60s")
    up.add_argument("--step-concurrency-level", type=int, default=1, help="steps run at once (default 1)")
    up.add_argument("--secure", action="store_true",
                    help="HDFS block access tokens, token authentication (a cluster key, delegation tokens) "
                         "mutual TLS (a cluster CA) and containers run as their users' OS accounts, instead of "
                         "simple mode")
    up.add_argument("--timeout", default="300s", help="how long to wait for the cluster to run (default 300s)")
    down = actions.add_parser("down", help="stop every process of the cluster (it comes back with `up`)")
    down.add_argument("--delete", action="store_true", help="also delete the cluster directory and its data")
    actions.add_parser("status", help="the cluster's state, its instances and their daemons")
    for name, summary in (("describe", "the cluster, as `aws emr describe-cluster`"),
                          ("list-instances", "its instances, as `aws emr list-instances`")):
        action = actions.add_parser(name, help=summary)
        action.add_argument("--output", choices=("table", "json"), default="table")
        if name == "list-instances":
            action.add_argument("--instance-group-type", choices=("MASTER", "CORE", "TASK"))
    listing = actions.add_parser("list", help="the clusters under a parent directory and their states")
    listing.add_argument("parent", nargs="?", help="where to look (default: the cluster directory's parent)")
    resize = actions.add_parser("resize", help="change an instance group's count (graceful decommission to shrink)")
    which = resize.add_mutually_exclusive_group(required=True)
    which.add_argument("--instance-group-id", help="the group's id (ig-...)")
    which.add_argument("--group", choices=("core", "task"), help="the group by its role")
    resize.add_argument("--count", type=int, required=True, help="the new instance count")
    resize.add_argument("--decommission-timeout", default="60s",
                        help="how long a shrinking node may finish its containers (default 60s)")
    modify = actions.add_parser("modify", help="change the cluster's settings")
    modify.add_argument("--termination-protected", choices=("true", "false"), required=True)
    actions.add_parser("terminate", help="end the cluster: cancel its steps, stop its instances (logs stay)")
    wait = actions.add_parser("wait", help="wait for a state, as `aws emr wait`: running | terminated | step-complete ID")
    wait.add_argument("what", choices=("running", "terminated", "step-complete"))
    wait.add_argument("step_id", nargs="?", help="the step, for step-complete")
    wait.add_argument("--timeout", default="600s", help="give up after this long (default 600s)")
    put_policy = actions.add_parser("put-managed-scaling-policy",
                                    help="EMR managed scaling: task capacity follows YARN's pending containers")
    put_policy.add_argument("--managed-scaling-policy", required=True, metavar="JSON",
                            help='{"ComputeLimits": {"UnitType": "Instances", "MinimumCapacityUnits": 3, '
                                 '"MaximumCapacityUnits": 8, "MaximumOnDemandCapacityUnits": 4}} or file://PATH')
    actions.add_parser("get-managed-scaling-policy", help="the cluster's managed scaling policy, as JSON")
    actions.add_parser("remove-managed-scaling-policy", help="stop managed scaling")
    cost = actions.add_parser("cost", help="the bill so far by group, market and instance type")
    cost.add_argument("--output", choices=("table", "json"), default="table")
    urls = actions.add_parser("urls", help="the web pages of the cluster's daemons")
    urls.add_argument("--output", choices=("table", "json"), default="table")
    return parser


def main(argv: list[str], context: CommandContext) -> int:
    args = _parser().parse_args(argv)
    cluster_dir = context.cluster_dir
    use_table_from(context.properties())
    match args.action:
        case "up":
            return _up(args, context)
        case "down":
            return _down(args, cluster_dir)
        case "status":
            return _status(cluster_dir)
        case "describe":
            with ControllerClient.for_cluster(cluster_dir) as client:
                return _print(client.describe_cluster(), args.output, views.cluster_table)
        case "list-instances":
            with ControllerClient.for_cluster(cluster_dir) as client:
                return _print(client.list_instances(args.instance_group_type or ""), args.output,
                              views.instances_table)
        case "list":
            return _list(args, cluster_dir)
        case "resize":
            return _resize(args, cluster_dir)
        case "modify":
            with ControllerClient.for_cluster(cluster_dir) as client:
                client.set_termination_protection(args.termination_protected == "true")
            print(f"termination protection {'on' if args.termination_protected == 'true' else 'off'}")
            return 0
        case "terminate":
            with ControllerClient.for_cluster(cluster_dir) as client:
                client.terminate()
                cluster = client.describe_cluster()["Cluster"]
            print(f"terminating {cluster['Id']} (wait with `emrlab cluster wait terminated`)")
            return 0
        case "wait":
            return _wait(args, cluster_dir)
        case "put-managed-scaling-policy" | "remove-managed-scaling-policy":
            document = None
            if args.action == "put-managed-scaling-policy":
                text = args.managed_scaling_policy
                document = load_definition_file(text) if text.startswith("file://") else _json_argument(text)
                document = document.get("ManagedScalingPolicy", document)
                parse_scaling_policy(document, [])
            with ControllerClient.for_cluster(cluster_dir) as client:
                client.put_managed_scaling_policy(document)
            print("managed scaling " + ("on" if document else "off"))
            return 0
        case "get-managed-scaling-policy":
            with ControllerClient.for_cluster(cluster_dir) as client:
                print(json.dumps(client.managed_scaling_policy(), indent=2))
            return 0
        case "cost":
            with ControllerClient.for_cluster(cluster_dir) as client:
                return _print(client.cost(), args.output, cost_table)
        case "urls":
            return _urls(args, cluster_dir)
    raise AssertionError(args.action)


def _json_argument(text: str) -> dict:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidArgument(f"--managed-scaling-policy is not valid JSON ({error.msg}); or give file://PATH") from None
    if not isinstance(document, dict):
        raise InvalidArgument("--managed-scaling-policy must be a JSON object")
    return document


def _print(document: dict, output: str, table) -> int:
    print(json.dumps(document, indent=2) if output == "json" else table(document))
    return 0


# ---------------------------------------------------------------- up


def _definition(args, context: CommandContext) -> ClusterDefinition:
    if args.config:
        definition = parse_definition(load_definition_file(args.config))
    else:
        if args.core < 1:
            raise InvalidArgument("a cluster needs at least one core node (--core 1)")
        if args.task < 0:
            raise InvalidArgument("--task cannot be negative")
        definition = definition_from_flags(
            name=args.name, core=args.core, task=args.task, instance_type_name=args.instance_type,
            task_market=args.task_market,
            bootstrap_paths=args.bootstrap_action, keep_alive=not args.auto_terminate,
            termination_protected=args.termination_protected, step_concurrency_level=args.step_concurrency_level,
            idle_timeout_s=parse_seconds(args.auto_termination_idle_timeout)
            if args.auto_termination_idle_timeout else None)
    if definition.warnings:  # one line, however many objects had fields to ignore
        print(f"emrlab: warning: {'; '.join(definition.warnings)}", file=sys.stderr)
    for group in definition.groups:
        if group.market is Market.SPOT and group.role is not Role.TASK:
            at_risk = "the whole cluster" if group.role is Role.MASTER else "HDFS data"
            print(f"emrlab: warning: the {group.role.value} group is on spot: an interruption puts {at_risk} at risk "
                  "(EMR advises on-demand master and core nodes)", file=sys.stderr)
    return definition


def _properties(args, context: CommandContext, definition: ClusterDefinition) -> dict[str, str]:
    """Service defaults, then the definition's Configurations, then the flags and -D (last wins)."""
    properties = launcher.default_properties()
    properties.update(definition.properties)
    if args.block_size:
        properties["dfs.blocksize"] = str(parse_size(args.block_size))
    if args.replication is not None:
        if args.replication < 1:
            raise InvalidArgument("--replication must be at least 1")
        properties["dfs.replication"] = str(args.replication)
    if args.secure:
        properties.update(SECURE_PROPERTIES)
    for flag, key in (("spot_notice", "emrlab.spot.notice"), ("spot_interruption_rate", "emrlab.spot.interruption-rate"),
                      ("spot_seed", "emrlab.spot.seed")):
        if getattr(args, flag) is not None:
            properties[key] = str(getattr(args, flag))
    properties.update(context.definitions)
    settings_from_properties(properties)  # refuse a bad rate or notice here, not in the controller
    use_table_from(properties)
    core = next(group.count for group in definition.groups if group.role is Role.CORE)
    # EMR sizes dfs.replication to the core group: 1 below 4 core nodes, 2 below 10, else 3.
    properties.setdefault("dfs.replication", "1" if core < 4 else "2" if core < 10 else "3")
    return properties


def _up(args, context: CommandContext) -> int:
    cluster_dir = context.cluster_dir
    timeout_s = parse_seconds(args.timeout)
    if controller_running(cluster_dir) or (launcher.running_daemons(cluster_dir) and not is_managed(cluster_dir)):
        raise FailedPrecondition(f"a cluster is already running in {cluster_dir.root} (`emrlab cluster status`)")
    problem = reachable_problem(cluster_dir.root) if args.secure else ""
    if problem:
        raise FailedPrecondition(f"--secure runs containers as their users' OS accounts, but {problem}: let other "
                                 "accounts search it (chmod o+x), or use a Python and a --dir they can reach")
    if is_managed(cluster_dir):
        with ControllerClient(cluster_dir) as client:
            cluster = client.describe_cluster()["Cluster"]
        if ClusterState(cluster["Status"]["State"]) in TERMINAL_CLUSTER_STATES:
            raise FailedPrecondition(f"{cluster['Id']} in {cluster_dir.root} is {cluster['Status']['State']}; a "
                                     "terminated cluster does not start again: use another --dir, or remove it with "
                                     "`emrlab cluster down --delete`")
        what = "adopting its running instances" if launcher.running_daemons(cluster_dir) else "starting its instances"
        print(f"bringing {cluster['Id']} back in {cluster_dir.root}, {what} (its definition is in its journal)")
    else:
        definition = _definition(args, context)
        properties = _properties(args, context, definition)
        counts = ", ".join(f"{group.count} {group.role.value.lower()} ({group.instance_type}, {group.market.value})"
                           for group in definition.groups)
        print(f"creating {definition.name!r} in {cluster_dir.root}: {counts}")
        print(f"  {_scaling_note(definition, properties)}")
        write_definition(cluster_dir, definition, properties)
    tls.use_cluster(cluster_dir)  # secure mode: the cluster CA and the owner's client certificate, made now
    launcher.start_daemon(cluster_dir, "emrlab.controller")
    state = follow(cluster_dir, timeout_s, print)
    if state in ("RUNNING", "WAITING"):
        from emrlab_common.web import cluster_urls

        print(f"cluster is {state}. Logs: {cluster_dir.logs_dir}")
        for name, url in cluster_urls(cluster_dir).items():
            print(f"  {name:<16} {url}")
        if tls.process_identity() is not None:
            print(f"  TLS: every endpoint wants a certificate from the cluster CA, e.g. curl {tls.curl_options(cluster_dir)} URL")
        if context.dir_flag:
            print(f"tip: export EMRLAB_CLUSTER={cluster_dir.root} to skip --dir in later commands")
        return 0
    with ControllerClient(cluster_dir) as client:
        status = client.describe_cluster()["Cluster"]["Status"]
    if status["StateChangeReason"].get("Code") == "ALL_STEPS_COMPLETED":
        print(f"cluster is {state}: it ran its steps and ended, as a transient cluster does. Logs: {cluster_dir.logs_dir}")
        return 0
    raise FailedPrecondition(f"the cluster ended {state} ({views.reason_text(status)}); its logs are in "
                             f"{cluster_dir.logs_dir}")


def _scaling_note(definition: ClusterDefinition, properties: dict[str, str]) -> str:
    """Say what the NodeManagers will really offer: their instance types, scaled down to this machine."""
    workers = [instance_type(group.instance_type) for group in definition.groups if group.role is not Role.MASTER
               for _ in range(group.count)]
    cores, memory_mb = machine_capacity()
    resources, factor = scaled_resources(workers, cores, memory_mb)
    offers = sorted({(kind.name, kind.vcpus, kind.memory_gib, resource.vcores, resource.memory_mb)
                     for kind, resource in zip(workers, resources)})
    text = "; ".join(f"{name} ({vcpus} vCPU, {memory:g} GiB) offers {vcores} vcore(s), {offered} MB"
                     for name, vcpus, memory, vcores, offered in offers)
    if "yarn.nodemanager.resource.memory-mb" in properties or "yarn.nodemanager.resource.cpu-vcores" in properties:
        text += " (but yarn.nodemanager.resource.* from -D win)"
    return (f"NodeManagers: {text}, scaled by {factor:.2f} to fit this machine's {cores} cores and "
            f"{memory_mb // 1024} GiB" if factor < 1 else f"NodeManagers: {text}")


# ---------------------------------------------------------------- down, status, list


def _down(args, cluster_dir: ClusterDir) -> int:
    stopped = launch.down(cluster_dir)
    print(f"stopped {len(stopped)} daemon(s) in {cluster_dir.root}")
    if args.delete and cluster_dir.root.exists():
        shutil.rmtree(cluster_dir.root)
        print(f"deleted {cluster_dir.root}")
    return 0


def _status(cluster_dir: ClusterDir) -> int:
    spec = cluster_dir.read_spec()
    print(f"cluster {cluster_dir.root} (superuser {spec.superuser})")
    if is_managed(cluster_dir):
        with ControllerClient(cluster_dir) as client:
            print(views.cluster_table(client.describe_cluster()))
            print()
            print(views.instances_table(client.list_instances()))
        print()
    records = cluster_dir.daemons()
    if not records:
        print("no daemons running (start them with `emrlab cluster up`)")
        return 1
    print(f"{'DAEMON':<26} {'PID':>7}  {'ADDRESS':<22} STATE")
    dead = 0
    for record in records:
        alive = process_alive(record.pid)
        dead += not alive
        print(f"{record.name:<26} {record.pid:>7}  {record.address:<22} {'running' if alive else 'dead'}")
    print(f"logs: {cluster_dir.logs_dir}")
    return 1 if dead else 0


def _list(args, cluster_dir: ClusterDir) -> int:
    parent = ClusterDir(args.parent).root if args.parent else cluster_dir.root.parent
    rows = []
    for candidate in sorted(path for path in parent.iterdir() if path.is_dir()) if parent.is_dir() else []:
        directory = ClusterDir(candidate)
        if not is_managed(directory):
            continue
        with ControllerClient(directory) as client:
            cluster = client.describe_cluster()["Cluster"]
        running = "up" if controller_running(directory) else "down"
        rows.append((cluster["Id"], cluster["Name"], cluster["Status"]["State"], running, str(candidate)))
    if not rows:
        print(f"no clusters under {parent}")
        return 0
    print(views.text_table(("ID", "NAME", "STATE", "PROCESSES", "DIRECTORY"), rows))
    return 0


# ---------------------------------------------------------------- resize, wait, urls


def _resize(args, cluster_dir: ClusterDir) -> int:
    with ControllerClient.for_cluster(cluster_dir) as client:
        groups = client.describe_cluster()["Cluster"]["InstanceGroups"]
        if args.group:
            matches = [group for group in groups if group["InstanceGroupType"] == args.group.upper()]
            if not matches:
                raise InvalidArgument(f"the cluster has no {args.group.upper()} instance group")
            if len(matches) > 1:
                raise InvalidArgument(f"the cluster has {len(matches)} {args.group.upper()} groups ("
                                      + ", ".join(f"{group['Id']} {group['Market']}" for group in matches)
                                      + "): say which with --instance-group-id")
            group_id = matches[0]["Id"]
        else:
            group_id = args.instance_group_id
        client.modify_instance_group(group_id, args.count, parse_seconds(args.decommission_timeout))
    print(f"resizing {group_id} to {args.count} instance(s) (watch with `emrlab cluster list-instances`)")
    return 0


def _wait(args, cluster_dir: ClusterDir) -> int:
    if args.what == "step-complete" and not args.step_id:
        raise InvalidArgument("wait step-complete needs the step's id")
    deadline = time.monotonic() + parse_seconds(args.timeout)
    while True:
        with ControllerClient.for_cluster(cluster_dir) as client:
            if args.what == "step-complete":
                steps = client.list_steps([args.step_id])["Steps"]
                if not steps:
                    raise InvalidArgument(f"no step {args.step_id} in the cluster")
                state = steps[0]["Status"]["State"]
                if state == "COMPLETED":
                    return 0
                if state in ("CANCELLED", "FAILED", "INTERRUPTED"):
                    raise FailedPrecondition(f"step {args.step_id} is {state}: it will not complete")
            else:
                state = client.describe_cluster()["Cluster"]["Status"]["State"]
                if state in WAIT_STATES[args.what]:
                    return 0
                if args.what == "running" and state.startswith("TERMINAT"):
                    raise FailedPrecondition(f"the cluster is {state}: it will not run")
        if time.monotonic() > deadline:
            raise DeadlineExceeded(f"still {state} after {args.timeout}")
        time.sleep(POLL_S * 2)


def _urls(args, cluster_dir: ClusterDir) -> int:
    from emrlab_common.web import cluster_urls

    urls = cluster_urls(cluster_dir)
    if not urls:
        raise FailedPrecondition(f"no daemon serves a web page in {cluster_dir.root} (is the cluster up?)")
    if args.output == "json":
        print(json.dumps(urls, indent=2))
    else:
        for name, url in urls.items():
            print(f"{name:<16} {url}")
    return 0
