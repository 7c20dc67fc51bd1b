"""Job history: what a finished job leaves behind for `emrlab job -history` and `-status`.

The AM writes one JSON file per job to HDFS when the job ends, as Hadoop's
JobHistoryEventHandler does (there as .jhist events plus a summary; here one
summary document):

    /tmp/hadoop-yarn/staging/history/done/<job id>.json

It is the only durable record of a job's counters and attempts once the AM
has exited. A running job is described by the same summary, built live.
Each attempt says why it ran (`cause`: empty for a task's first attempt, else
what became of the one before) and why it ended if it did not succeed
(`end_cause`, `end_phase`): preemptions (NODE_LOST, NODE_DECOMMISSIONING)
and re-runs of maps whose output was lost can be read off it; a reducer the
AM killed to make room for maps (REDUCER_PREEMPTED) shows among the re-runs.
An attempt a later AM attempt took over from the recovery log says `recovered`.
The summary holds states, kinds, localities, end causes and phases as their
names ("RUNNING", "map", "DATA_LOCAL", "NODE_LOST", "map output", "" for none);
the live report that `MRClientProtocol` carries holds them as proto enums
(none: the optional field left out), converted here.
"""

from __future__ import annotations

import enum
import json

import msgpack

from emrlab_common.errors import NotFound
from emrlab_common.protos import mapreduce_pb2
from emrlab_common.wireenum import WireEnum
from mapreduce.appmaster.job import JobStateMachine
from mapreduce.appmaster.records import MAP, REDUCE, AttemptState, EndCause, JobState, task_id_text
from mapreduce.appmaster.tasks import AttemptPhase, Locality


class TaskType(enum.Enum):
    """A task's kind as the wire names it (MAP, REDUCE); in code and in the summary it is the word, "map"."""

    MAP = MAP
    REDUCE = REDUCE


HISTORY_DONE_DIR = "/tmp/hadoop-yarn/staging/history/done"
JOB_STATE_WIRE = WireEnum(JobState, mapreduce_pb2.JobStateProto, "J_")
ATTEMPT_STATE_WIRE = WireEnum(AttemptState, mapreduce_pb2.TaskAttemptStateProto, "TA_")
TASK_TYPE_WIRE = WireEnum(TaskType, mapreduce_pb2.TaskTypeProto, by_name=True)
LOCALITY_WIRE = WireEnum(Locality, mapreduce_pb2.LocalityProto)
END_CAUSE_WIRE = WireEnum(EndCause, mapreduce_pb2.EndCauseProto)
END_PHASE_WIRE = WireEnum(AttemptPhase, mapreduce_pb2.AttemptPhaseProto, "P_", by_name=True)
# The report's optional enum fields: the summary holds "" for "none", the report leaves the field out.
OPTIONAL_FIELDS = {"locality": LOCALITY_WIRE, "end_cause": END_CAUSE_WIRE, "end_phase": END_PHASE_WIRE}


def history_path(job_id: str) -> str:
    return f"{HISTORY_DONE_DIR}/{job_id}.json"


def job_summary(machine: JobStateMachine, name: str, user: str) -> dict:
    """Everything `-status` and `-history` show, as plain JSON-able values."""
    attempts = []
    for task in sorted(machine.tasks.values(), key=lambda task: task.key):
        for attempt in task.attempts:
            attempts.append({
                "attempt_id": attempt.attempt_id, "task_id": task_id_text(machine.job_id, task.key),
                "step_index": task.key.step_index, "kind": task.key.kind, "task_index": task.key.task_index,
                "state": attempt.state.value, "progress": attempt.progress, "status": attempt.status,
                "node_id": attempt.node_id, "container_id": attempt.container_id,
                "start_time_s": attempt.start_time_s, "finish_time_s": attempt.finish_time_s,
                "diagnostics": attempt.diagnostics, "locality": attempt.locality.value if attempt.locality else "",
                "cause": attempt.cause, "end_cause": attempt.end_cause.value if attempt.end_cause else "",
                "end_phase": attempt.end_phase.value if attempt.end_phase else "",
                "output_lost": attempt.output_lost, "recovered": attempt.recovered,
            })
    return {
        "job_id": machine.job_id, "name": name, "user": user, "state": machine.state.value,
        "step_index": machine.step_index, "step_count": machine.step_count,
        "map_progress": machine.progress(MAP), "reduce_progress": machine.progress(REDUCE),
        "counters": machine.counters(), "diagnostics": machine.diagnostics,
        "start_time_s": machine.start_time_s, "finish_time_s": machine.finish_time_s,
        "attempts": attempts,
    }


def report_from_summary(summary: dict, include_attempts: bool) -> mapreduce_pb2.GetJobReportResponse:
    report = mapreduce_pb2.GetJobReportResponse(
        job_id=summary["job_id"], name=summary["name"], user=summary["user"],
        state=JOB_STATE_WIRE.to_proto(JobState(summary["state"])),
        step_index=summary["step_index"], step_count=summary["step_count"],
        map_progress=summary["map_progress"], reduce_progress=summary["reduce_progress"],
        counters=msgpack.packb(summary["counters"]), diagnostics=summary["diagnostics"],
        start_time_s=summary["start_time_s"], finish_time_s=summary["finish_time_s"])
    if include_attempts:
        for attempt in summary["attempts"]:
            fields = {key: value for key, value in attempt.items() if key != "task_id"}
            fields["state"] = ATTEMPT_STATE_WIRE.to_proto(AttemptState(attempt["state"]))
            fields["kind"] = TASK_TYPE_WIRE.to_proto(TaskType(attempt["kind"]))
            for name, wire in OPTIONAL_FIELDS.items():
                if fields[name]:
                    fields[name] = wire.to_proto(wire.python_enum(fields[name]))
                else:
                    del fields[name]
            report.attempts.append(mapreduce_pb2.TaskAttemptReport(**fields))
    return report


def summary_from_report(report: mapreduce_pb2.GetJobReportResponse) -> dict:
    """The live report in the history's shape, so commands print both the same way."""
    return {
        "job_id": report.job_id, "name": report.name, "user": report.user,
        "state": JOB_STATE_WIRE.from_proto(report.state, "GetJobReportResponse.state").value,
        "step_index": report.step_index, "step_count": report.step_count,
        "map_progress": report.map_progress, "reduce_progress": report.reduce_progress,
        "counters": msgpack.unpackb(report.counters) if report.counters else {},
        "diagnostics": report.diagnostics, "start_time_s": report.start_time_s,
        "finish_time_s": report.finish_time_s,
        "attempts": [{
            "attempt_id": attempt.attempt_id, "step_index": attempt.step_index,
            "kind": TASK_TYPE_WIRE.from_proto(attempt.kind, "TaskAttemptReport.kind").value,
            "task_index": attempt.task_index,
            "state": ATTEMPT_STATE_WIRE.from_proto(attempt.state, "TaskAttemptReport.state").value,
            "progress": attempt.progress,
            "status": attempt.status, "node_id": attempt.node_id, "container_id": attempt.container_id,
            "start_time_s": attempt.start_time_s, "finish_time_s": attempt.finish_time_s,
            "diagnostics": attempt.diagnostics, "locality": _name_of(attempt, "locality"), "cause": attempt.cause,
            "end_cause": _name_of(attempt, "end_cause"), "end_phase": _name_of(attempt, "end_phase"),
            "output_lost": attempt.output_lost, "recovered": attempt.recovered,
        } for attempt in report.attempts],
    }


def _name_of(attempt: mapreduce_pb2.TaskAttemptReport, name: str) -> str:
    """An optional enum field of the report as the summary holds it: its name, or "" if left out."""
    if not attempt.HasField(name):
        return ""
    return OPTIONAL_FIELDS[name].from_proto(getattr(attempt, name), f"TaskAttemptReport.{name}").value


def preemptions(summary: dict) -> list[dict]:
    """Attempts ended because their node went away (lost, or decommissioned: a spot interruption)."""
    return [attempt for attempt in summary.get("attempts", [])
            if attempt.get("end_cause") in (EndCause.NODE_LOST.value, EndCause.NODE_DECOMMISSIONING.value)]


def reruns(summary: dict) -> list[dict]:
    """Attempts that are not their task's first, each with its cause."""
    return [attempt for attempt in summary.get("attempts", []) if attempt.get("cause")]


def write_history(client, summary: dict) -> str:
    """Write the summary to HDFS with `client` (an hdfs.Client); returns its path."""
    path = history_path(summary["job_id"])
    client.mkdirs(HISTORY_DONE_DIR)
    # Written aside, then renamed: a client polling for the file never reads half of it.
    temporary = f"{HISTORY_DONE_DIR}/.{summary['job_id']}.json.tmp"
    client.write_bytes(temporary, json.dumps(summary, indent=1, sort_keys=True).encode(), overwrite=True)
    if client.exists(path):
        client.delete(path)
    client.rename(temporary, path)
    return path


def read_history(client, job_id: str) -> dict:
    path = history_path(job_id)
    if not client.exists(path):
        raise NotFound(f"no history for {job_id} (looked for {path})")
    return json.loads(client.read_bytes(path))
