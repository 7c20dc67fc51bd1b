"""`emrlab application -list [-appStates S,...] | -status ID | -kill ID`: applications, as `yarn application`."""

from __future__ import annotations

import argparse
import time

from emrlab_common.command import CommandContext, CommandParser
from yarn.cli import print_table
from yarn.client import YarnClient
from yarn.records import ApplicationReport, ApplicationState, check_application_id, parse_states

EPILOG = """examples:
  emrlab application -list                         # SUBMITTED, ACCEPTED and RUNNING applications
  emrlab application -list -appStates ALL
  emrlab application -list -appStates FINISHED,KILLED
  emrlab application -status application_1700000000000_0001
  emrlab application -kill application_1700000000000_0001
"""
DEFAULT_STATES = (ApplicationState.SUBMITTED, ApplicationState.ACCEPTED, ApplicationState.RUNNING)
HEADER = ("Application-Id", "Application-Name", "Application-Type", "User", "Queue", "State", "Final-State",
          "Progress", "Tracking-URL")


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab application", description="List, inspect and kill YARN applications.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("-list", action="store_true", help="list applications")
    action.add_argument("-status", metavar="APPLICATION_ID", help="print an application's report")
    action.add_argument("-kill", metavar="APPLICATION_ID", help="kill an application and its containers")
    parser.add_argument("-appStates", metavar="STATES", help="with -list: comma-separated states, or ALL")
    args = parser.parse_args(argv)
    for application_id in (args.status, args.kill):
        if application_id:
            check_application_id(application_id)
    with YarnClient.for_cluster(context.cluster_dir) as client:
        if args.status:
            _print_report(client.application_report(args.status))
            return 0
        if args.kill:
            return _kill(client, args.kill)
        states = _states(args.appStates)
        applications = client.applications(states)
    print(f"Total number of applications (application-types: [] and states: "
          f"[{', '.join(state.value for state in states) or 'ALL'}]):{len(applications)}")
    rows = [HEADER] + [(report.application_id, report.name, report.application_type, report.user, report.queue,
                        report.state.value, report.final_status.value, f"{report.progress * 100:.0f}%",
                        report.tracking_url or "N/A") for report in applications]
    print_table(rows, "\t")
    return 0


def _states(text: str | None) -> tuple[ApplicationState, ...]:
    if not text:
        return DEFAULT_STATES
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    if "ALL" in names:
        return ()
    return tuple(parse_states(ApplicationState, names))


def _kill(client: YarnClient, application_id: str) -> int:
    client.application_report(application_id)  # a missing application is one error line, before anything is said
    print(f"Killing application {application_id}")
    if client.kill_application(application_id):
        print(f"Application {application_id} has already finished")
    else:
        print(f"Killed application {application_id}")
    return 0


def _time(milliseconds: int) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(milliseconds / 1000)) if milliseconds else "N/A"


def _print_report(report: ApplicationReport) -> None:
    print("Application Report : ")
    for name, value in [
        ("Application-Id", report.application_id), ("Application-Name", report.name),
        ("Application-Type", report.application_type), ("User", report.user), ("Queue", report.queue),
        ("Start-Time", _time(report.start_time_ms)), ("Finish-Time", _time(report.finish_time_ms)),
        ("Progress", f"{report.progress * 100:.0f}%"), ("State", report.state.value),
        ("Final-State", report.final_status.value), ("Tracking-URL", report.tracking_url or "N/A"),
        ("RPC Port", report.rpc_port or "N/A"), ("AM Host", report.host or "N/A"),
        ("AM Container", report.am_container_id or "N/A"), ("AM Node", report.am_node_id or "N/A"),
        ("Attempts", report.attempts), ("Running Containers", report.running_containers),
        ("Used Resources", str(report.used)), ("Diagnostics", report.diagnostics),
    ]:
        print(f"\t{name} : {value}")
