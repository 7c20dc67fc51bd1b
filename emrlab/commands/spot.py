"""`emrlab spot interrupt | experiment`: take spot capacity away, and measure what that costs and saves.

    emrlab spot interrupt ci-XXXXXXXXXXXXX task-2        # a notice now for these spot instances
    emrlab spot interrupt --group task --count 2          # for two of the task group's (the market picks)
    emrlab spot experiment --job wordcount --input /corpus --task-nodes 3 --rates 0,2,8 --seed 1
"""

from __future__ import annotations

import argparse

from emrlab.controller.client import ControllerClient
from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.errors import InvalidArgument

EPILOG = """examples:
  emrlab spot interrupt task-2                  # one spot instance, by node name or ci-... id
  emrlab spot interrupt --group task --count 2  # two of the task group's, chosen by the seeded market
  emrlab spot experiment --job wordcount --input /corpus --task-nodes 3 --rates 0,2,8 --seed 1 --runs 3
"""


def main(argv: list[str], context: CommandContext) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = CommandParser(prog="emrlab spot", description="Interrupt spot instances; run the spot lab.",
                           epilog=EPILOG, formatter_class=formatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="interrupt|experiment")
    interrupt = actions.add_parser("interrupt", help="send spot interruption notices now", epilog=EPILOG,
                                   formatter_class=formatter)
    interrupt.add_argument("instances", nargs="*", help="instance ids (ci-...) or node names (task-2)")
    interrupt.add_argument("--group", choices=("core", "task"), help="interrupt --count instances of this group")
    interrupt.add_argument("--count", type=int, default=1, help="how many of the group's (default 1)")
    experiment = actions.add_parser("experiment", help="the spot lab: time and cost against the interruption rate",
                                    epilog=EPILOG, formatter_class=formatter)
    from emrlab.spotlab import add_arguments, run_experiment

    add_arguments(experiment)
    args = parser.parse_args(argv)
    if args.action == "experiment":
        return run_experiment(args, context)
    if not args.instances and not args.group:
        raise InvalidArgument("name the instances to interrupt, or --group task --count K (see --help)")
    if args.group and args.count < 1:
        raise InvalidArgument(f"--count must be at least 1 (not {args.count})")
    with ControllerClient.for_cluster(context.cluster_dir) as client:
        group_id = ""
        if args.group:
            groups = client.describe_cluster()["Cluster"]["InstanceGroups"]
            matches = [group for group in groups if group["InstanceGroupType"] == args.group.upper()]
            if not matches:
                raise InvalidArgument(f"the cluster has no {args.group.upper()} instance group")
            # With an on-demand and a spot task group, the spot one is what can be interrupted.
            group_id = sorted(matches, key=lambda group: group["Market"] != "SPOT")[0]["Id"]
        noticed = client.interrupt(args.instances, group_id, args.count if args.group else 0)
        instances = {item["Id"]: item for item in client.list_instances()["Instances"]}
    for instance_id in noticed:
        print(f"{instance_id} ({instances[instance_id]['PrivateDnsName']}): interruption notice sent; "
              "it is decommissioned now and killed when the notice runs out")
    return 0
