"""`emrlab step add | list | describe | cancel`: steps on a managed cluster, as `aws emr` has them.

    emrlab step add --name wordcount -- job run wordcount.py hdfs:///in -o hdfs:///out
    emrlab step add --name put --action-on-failure CANCEL_AND_WAIT -- hdfs dfs -put data.txt /in/
    emrlab step add --steps file://steps.json      # the Steps list of a RunJobFlow definition
"""

from __future__ import annotations

import argparse
import json
import sys

from emrlab.controller import views
from emrlab.controller.client import ControllerClient
from emrlab.controller.definition import load_definition_file, parse_steps
from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.errors import InvalidArgument, NotFound
from emrlab_common.protos import emr_pb2

EPILOG = """examples:
  emrlab step add --name wordcount -- examples wordcount hdfs:///in -o hdfs:///out
  emrlab step add --name streaming -- hadoop-streaming -input /in -output /out -mapper cat -reducer 'wc -l'
  emrlab step add --name copy --action-on-failure CANCEL_AND_WAIT -- hdfs dfs -cp /a /b
  emrlab step add --steps file://steps.json
  emrlab step list --output json
  emrlab step describe s-XXXXXXXXXXXXX
  emrlab step cancel s-XXXXXXXXXXXXX
"""
LOG_TAIL_LINES = 20


def main(argv: list[str], context: CommandContext) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = CommandParser(prog="emrlab step", description="Add, list, describe and cancel a cluster's steps.",
                           epilog=EPILOG, formatter_class=formatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="add|list|describe|cancel")
    add = actions.add_parser("add", help="add a step (what command-runner.jar would run)", epilog=EPILOG,
                             formatter_class=formatter)
    add.add_argument("--name", help="the step's name")
    add.add_argument("--action-on-failure", default="CONTINUE",
                     help="CONTINUE (default), CANCEL_AND_WAIT or TERMINATE_CLUSTER")
    add.add_argument("--steps", metavar="FILE", help="a JSON list of steps in RunJobFlow's shape (file://PATH)")
    add.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    listing = actions.add_parser("list", help="every step, newest first")
    listing.add_argument("--output", choices=("table", "json"), default="table")
    describe = actions.add_parser("describe", help="one step: state, times and the tail of its output")
    describe.add_argument("step_id")
    describe.add_argument("--output", choices=("table", "json"), default="table")
    cancel = actions.add_parser("cancel", help="cancel pending or running steps")
    cancel.add_argument("step_ids", nargs="+")
    args = parser.parse_args(argv)
    with ControllerClient.for_cluster(context.cluster_dir) as client:
        match args.action:
            case "add":
                return _add(args, client)
            case "list":
                document = client.list_steps()
                print(json.dumps(document, indent=2) if args.output == "json" else views.steps_table(document))
                return 0
            case "describe":
                return _describe(args, client, context)
            case "cancel":
                results = client.cancel_steps(args.step_ids)["CancelStepsInfoList"]
                for result in results:
                    print(f"{result['StepId']}: {result['Status']}" + (f" ({result['Reason']})" if result["Reason"] else ""))
                return 0 if all(result["Status"] == "SUBMITTED" for result in results) else 1
    raise AssertionError(args.action)


def _add(args, client: ControllerClient) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.steps:
        if command or args.name:
            raise InvalidArgument("give either --steps FILE or --name NAME -- COMMAND, not both")
        document = load_definition_file(args.steps)
        warnings: list[str] = []
        steps = parse_steps(document.get("Steps", document) if isinstance(document, dict) else document, warnings)
        if warnings:
            print(f"emrlab: warning: {'; '.join(warnings)}", file=sys.stderr)
        configs = [emr_pb2.StepConfig(name=step.name, action_on_failure=step.action_on_failure.value, args=step.args)
                   for step in steps]
    else:
        if not command:
            raise InvalidArgument("say what the step runs: emrlab step add --name NAME -- COMMAND ... (see --help)")
        configs = [emr_pb2.StepConfig(name=args.name or command[0], action_on_failure=args.action_on_failure.upper(),
                                      args=command)]
    for step_id in client.add_steps(configs):
        print(step_id)
    return 0


def _describe(args, client: ControllerClient, context: CommandContext) -> int:
    steps = client.list_steps([args.step_id])["Steps"]
    if not steps:
        raise NotFound(f"no step {args.step_id} in the cluster (`emrlab step list`)")
    step = steps[0]
    if args.output == "json":
        print(json.dumps({"Step": step}, indent=2))
        return 0
    cluster_id = client.describe_cluster()["Cluster"]["Id"]
    status = step["Status"]
    print(f"{step['Id']}  {step['Name']!r}  {status['State']}  {views.reason_text(status)}".rstrip())
    print(f"  command:   {' '.join(step['Config']['Args'])}")
    for name, value in status.get("Timeline", {}).items():
        print(f"  {name:<18} {value}")
    log_dir = context.cluster_dir.logs_dir / cluster_id / "steps" / step["Id"]
    print(f"  logs:      {log_dir}")
    for name in ("stdout", "stderr"):
        path = log_dir / name
        lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] if path.exists() else []
        if lines:
            print(f"--- {name} (last {len(lines)} lines)")
            print("\n".join(lines))
    return 0
