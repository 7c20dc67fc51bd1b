"""`emrlab job -list | -status JOB_ID | -kill JOB_ID | -history JOB_ID`, as `mapred job` has them.

A running job is asked through its ApplicationMaster (found in YARN's
application report); a finished one is read from its history file in HDFS. `-history` also takes
a history file on this machine, as `mapred job -history` takes a .jhist file:
the local runner writes one per job with `-D mapreduce.local.jobhistory.dir=DIR`.

Examples:
  emrlab job -list
  emrlab job -status job_1700000000000_0001
  emrlab job -history job_1700000000000_0001
  emrlab job -history DIR/job_local1700000000000_0001.json
"""

from __future__ import annotations

import json
import os
import time

from emrlab_common.command import CommandContext
from emrlab_common.errors import FailedPrecondition, InvalidArgument, NotFound
from mapreduce.api.counters import Counters
from mapreduce.appmaster.description import APPLICATION_TYPE
from mapreduce.appmaster.history import preemptions, read_history, reruns
from mapreduce.appmaster.records import application_id_for, is_job_id, job_id_for
from mapreduce.jobhistory.summary import job_summary
from mapreduce.runners.cluster import kill_job

FINAL_STATES = ("SUCCEEDED", "FAILED", "KILLED")


def _job_id(argv: list[str], flag: str) -> str:
    if len(argv) != 1 or argv[0].startswith("-"):
        raise InvalidArgument(f"usage: emrlab job {flag} JOB_ID")
    if not is_job_id(argv[0]):
        raise InvalidArgument(f"invalid job id {argv[0]!r} (expected job_<timestamp>_<number>)")
    return argv[0]


def _clients(context: CommandContext):
    from hdfs import Client
    from yarn.client import YarnClient

    return Client.for_cluster(context.cluster_dir), YarnClient.for_cluster(context.cluster_dir)


def list_main(argv: list[str], context: CommandContext) -> int:
    from yarn.records import ApplicationState

    hdfs, yarn = _clients(context)
    with hdfs, yarn:
        active = (ApplicationState.NEW, ApplicationState.SUBMITTED, ApplicationState.ACCEPTED,
                  ApplicationState.RUNNING)
        reports = [report for report in yarn.applications(states=active)
                   if report.application_type == APPLICATION_TYPE]
    print(f"Total jobs:{len(reports)}")
    print(f"{'JobId':<28} {'JobName':<16} {'State':<9} {'StartTime':<20} {'UserName':<10} {'Queue':<10} "
          f"{'UsedMem':>8}  AM info")
    for report in reports:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.start_time_ms / 1000))
        print(f"{job_id_for(report.application_id):<28} {report.name:<16} {report.state.value:<9} {started:<20} "
              f"{report.user:<10} {report.queue:<10} {report.used.memory_mb:>6}M  {report.am_address or '-'}")
    return 0


def status_main(argv: list[str], context: CommandContext) -> int:
    job_id = _job_id(argv, "-status")
    hdfs, yarn = _clients(context)
    with hdfs, yarn:
        summary = job_summary(hdfs, yarn, job_id)
    attempts = summary.get("attempts", [])
    print(f"Job: {job_id}")
    print(f"Job name: {summary.get('name', '')}")
    print(f"User: {summary.get('user', '')}")
    print(f"Number of maps: {len({(a['step_index'], a['task_index']) for a in attempts if a['kind'] == 'map'})}")
    print(f"Number of reduces: {len({(a['step_index'], a['task_index']) for a in attempts if a['kind'] == 'reduce'})}")
    print(f"map() completion: {summary.get('map_progress', 0.0):.2f}")
    print(f"reduce() completion: {summary.get('reduce_progress', 0.0):.2f}")
    print(f"Job state: {summary['state']}")
    if summary.get("diagnostics"):
        print(f"reason for failure: {summary['diagnostics']}")
    print(Counters(summary.get("counters", {})).format())
    return 0


def kill_main(argv: list[str], context: CommandContext) -> int:
    job_id = _job_id(argv, "-kill")
    hdfs, yarn = _clients(context)
    with hdfs, yarn:
        state = job_summary(hdfs, yarn, job_id)["state"]
        if state in FINAL_STATES:
            raise FailedPrecondition(f"job {job_id} has already finished ({state})")
        kill_job(yarn, application_id_for(job_id), job_id)
    print(f"Killed job {job_id}")
    return 0


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds)) if seconds else "-"


def _local_history(path: str) -> dict:
    """A history file on this machine (what `-D mapreduce.local.jobhistory.dir` has the local runner write)."""
    try:
        with open(path, "rb") as file:
            summary = json.load(file)
    except OSError as error:
        raise NotFound(f"cannot read {path}: {error.strerror}") from None
    except ValueError:
        raise InvalidArgument(f"{path} is not a job history file (not JSON)") from None
    if not _has_history_shape(summary):
        raise InvalidArgument(f"{path} is not a job history file")
    return summary


def _has_history_shape(summary) -> bool:
    """Whether a file someone hands `-history` has every field it prints, each of the type it prints as."""
    def numbers(record: dict) -> bool:
        return all(isinstance(record.get(key, 0.0), (int, float)) for key in ("start_time_s", "finish_time_s"))

    def attempt_shape(attempt) -> bool:
        return (isinstance(attempt, dict) and numbers(attempt) and {"start_time_s", "finish_time_s"} <= attempt.keys()
                and all(isinstance(attempt.get(key), str) for key in ("attempt_id", "state"))
                and isinstance(attempt.get("node_id"), (str, type(None))))

    if not isinstance(summary, dict) or not all(isinstance(summary.get(key), str)
                                                for key in ("job_id", "name", "user", "state")):
        return False
    counters, attempts = summary.get("counters", {}), summary.get("attempts", [])
    return (numbers(summary) and isinstance(counters, dict) and isinstance(attempts, list)
            and all(isinstance(names, dict) for names in counters.values()) and all(map(attempt_shape, attempts)))


def history_main(argv: list[str], context: CommandContext) -> int:
    if len(argv) == 1 and not is_job_id(argv[0]) and (os.sep in argv[0] or argv[0].endswith(".json")):
        summary = _local_history(argv[0])
        job_id = summary["job_id"]
    else:
        job_id = _job_id(argv, "-history")
        hdfs, yarn = _clients(context)
        with hdfs, yarn:
            summary = read_history(hdfs, job_id)
    started, finished = summary.get("start_time_s", 0.0), summary.get("finish_time_s", 0.0)
    print(f"Hadoop job: {job_id}")
    print(f"Job name: {summary['name']}   User: {summary['user']}   Status: {summary['state']}")
    print(f"Submitted at: {_clock(started)}   Finished at: {_clock(finished)}   "
          f"({finished - started:.1f}s)" if finished else "")
    if summary.get("diagnostics"):
        print(f"Diagnostics: {summary['diagnostics']}")
    print(Counters(summary.get("counters", {})).format())
    print()
    print(f"{'Task attempt':<46} {'State':<10} {'Node':<8} {'Start':<9} {'Finish':<9} {'Time':>7}  Note")
    for attempt in summary.get("attempts", []):
        duration = (f"{attempt['finish_time_s'] - attempt['start_time_s']:.1f}s"
                    if attempt["finish_time_s"] and attempt["start_time_s"] else "-")
        note = (attempt.get("diagnostics") or attempt.get("locality") or "").splitlines()
        print(f"{attempt['attempt_id']:<46} {attempt['state']:<10} {attempt['node_id'] or '-':<8} "
              f"{_clock(attempt['start_time_s']):<9} {_clock(attempt['finish_time_s']):<9} {duration:>7}  "
              f"{note[0] if note else ''}")
    _print_preemptions_and_reruns(summary)
    return 0


def _print_preemptions_and_reruns(summary: dict) -> None:
    """What the spot lab looks for: attempts lost with their node, and what ran again and why."""
    lost = preemptions(summary)
    if lost:
        print()
        print(f"Preemptions ({len(lost)}): attempts killed because their node was lost or decommissioned")
        print(f"{'Node':<10} {'Task attempt':<46} {'Phase':<11} Cause")
        for attempt in lost:
            print(f"{attempt['node_id'] or '-':<10} {attempt['attempt_id']:<46} {attempt['end_phase'] or '-':<11} "
                  f"{attempt['end_cause']}")
    again = reruns(summary)
    if again:
        print()
        print(f"Re-runs ({len(again)}):")
        for attempt in again:
            print(f"{attempt['attempt_id']:<46} {attempt['cause']}")


# `emrlab job` subcommands this module adds (mapreduce.commands.job.SUBCOMMANDS)
SUBCOMMANDS = {"-list": list_main, "-status": status_main, "-kill": kill_main, "-history": history_main}
