"""Lifecycle states cross the wire as Hadoop's proto enums (issue 14): every state round-trips, names stay
the same for the people reading them, and a number the receiver does not know is one InvalidArgument."""

from __future__ import annotations

import pytest

from emrlab_common.errors import InvalidArgument
from emrlab_common.protos import mapreduce_pb2, yarn_pb2
from mapreduce.appmaster.history import report_from_summary, summary_from_report
from mapreduce.appmaster.records import MAP, REDUCE, AttemptState, EndCause, JobState
from mapreduce.appmaster.tasks import AttemptPhase, Locality
from yarn.records import (
    NO_RESOURCE,
    ApplicationReport,
    ApplicationState,
    ContainerState,
    ContainerStatus,
    FinalApplicationStatus,
    NodeReport,
    NodeState,
)


@pytest.mark.parametrize("state", list(ContainerState))
def test_container_states_round_trip(state):
    status = ContainerStatus("container_1_0001_01_000001", state, 0, "")
    message = status.to_proto()
    assert yarn_pb2.ContainerStateProto.Name(message.state) == f"C_{state.value}"
    assert ContainerStatus.from_proto(yarn_pb2.ContainerStatus.FromString(message.SerializeToString())) == status


@pytest.mark.parametrize("state", list(NodeState))
def test_node_states_round_trip(state):
    report = NodeReport("core-1", "127.0.0.1:1", state, "CORE", NO_RESOURCE, NO_RESOURCE, 0)
    assert yarn_pb2.NodeStateProto.Name(report.to_proto().state) == f"NS_{state.value}"
    assert NodeReport.from_proto(report.to_proto()) == report


@pytest.mark.parametrize("state", list(ApplicationState))
@pytest.mark.parametrize("final_status", list(FinalApplicationStatus))
def test_application_states_round_trip(state, final_status):
    report = ApplicationReport("application_1_0001", "job", "alice", "default", "MAPREDUCE", state, final_status)
    message = report.to_proto()
    assert yarn_pb2.YarnApplicationStateProto.Name(message.state) == state.value
    assert yarn_pb2.FinalApplicationStatusProto.Name(message.final_status) == f"APP_{final_status.value}"
    assert ApplicationReport.from_proto(message) == report


@pytest.mark.parametrize("number", [0, 99])
def test_an_unset_or_unknown_state_is_one_invalid_argument(number):
    with pytest.raises(InvalidArgument, match=rf"^NodeReport.state: {number} is not a known NodeStateProto value "
                                              r"\(NEW, RUNNING, .*LOST\)$"):
        NodeReport.from_proto(yarn_pb2.NodeReport(node_id="core-1", state=number))
    with pytest.raises(InvalidArgument, match="ApplicationReport.final_status"):
        ApplicationReport.from_proto(yarn_pb2.ApplicationReport(state=yarn_pb2.RUNNING, final_status=number))


def summary(job_state: JobState, attempt_states: list[AttemptState]) -> dict:
    return {
        "job_id": "job_1_0001", "name": "wc", "user": "alice", "state": job_state.value, "step_index": 0,
        "step_count": 1, "map_progress": 0.5, "reduce_progress": 0.0, "counters": {}, "diagnostics": "",
        "start_time_s": 1.0, "finish_time_s": 0.0,
        "attempts": [{
            "attempt_id": f"attempt_1_0001_m_{index:06d}_0", "task_id": f"task_1_0001_m_{index:06d}",
            "step_index": 0, "kind": "map", "task_index": index, "state": state.value, "progress": 0.0,
            "status": "", "node_id": "", "container_id": "", "start_time_s": 0.0, "finish_time_s": 0.0,
            "diagnostics": "", "locality": "", "cause": "", "end_cause": "", "end_phase": "",
            "output_lost": False, "recovered": False,
        } for index, state in enumerate(attempt_states)],
    }


@pytest.mark.parametrize("job_state", list(JobState))
def test_job_reports_carry_proto_enums_and_summaries_keep_the_names(job_state):
    original = summary(job_state, list(AttemptState))
    report = report_from_summary(original, include_attempts=True)
    assert mapreduce_pb2.JobStateProto.Name(report.state) == f"J_{job_state.value}"
    assert [mapreduce_pb2.TaskAttemptStateProto.Name(attempt.state) for attempt in report.attempts] == [
        f"TA_{state.value}" for state in AttemptState]
    again = summary_from_report(mapreduce_pb2.GetJobReportResponse.FromString(report.SerializeToString()))
    assert again["state"] == job_state.value
    assert [attempt["state"] for attempt in again["attempts"]] == [state.value for state in AttemptState]


def test_a_job_report_with_an_unknown_attempt_state_is_one_invalid_argument():
    report = report_from_summary(summary(JobState.RUNNING, [AttemptState.RUNNING]), include_attempts=True)
    report.attempts[0].state = 42
    with pytest.raises(InvalidArgument, match=r"^TaskAttemptReport.state: 42 is not a known TaskAttemptStateProto"):
        summary_from_report(report)


def test_a_state_filter_travels_as_enums_and_a_bad_name_is_refused_before_sending():
    from yarn.client import YarnClient

    client = YarnClient("127.0.0.1:1")  # refused before any call: nothing listens here
    try:
        with pytest.raises(InvalidArgument, match=r"^invalid state in RUNNING, SLEEPING \(known: NEW, "):
            client.nodes(states=("RUNNING", "SLEEPING"))
    finally:
        client.close()


@pytest.mark.parametrize("end_cause", list(EndCause))
def test_an_attempts_kind_locality_and_end_travel_as_enums_and_come_back_as_the_names(end_cause):
    original = summary(JobState.RUNNING, [AttemptState.KILLED] * len(AttemptPhase))
    for attempt, phase in zip(original["attempts"], AttemptPhase):
        attempt.update(kind=REDUCE, locality=Locality.DATA_LOCAL.value, end_cause=end_cause.value,
                       end_phase=phase.value)
    report = report_from_summary(original, include_attempts=True)
    assert [mapreduce_pb2.AttemptPhaseProto.Name(attempt.end_phase) for attempt in report.attempts] == [
        f"P_{phase.name}" for phase in AttemptPhase]
    assert {mapreduce_pb2.EndCauseProto.Name(attempt.end_cause) for attempt in report.attempts} == {end_cause.value}
    assert {mapreduce_pb2.TaskTypeProto.Name(attempt.kind) for attempt in report.attempts} == {"REDUCE"}
    again = summary_from_report(mapreduce_pb2.GetJobReportResponse.FromString(report.SerializeToString()))
    assert again["attempts"] == [{key: value for key, value in attempt.items() if key != "task_id"}
                                 for attempt in original["attempts"]]


def test_an_attempt_with_no_locality_or_end_leaves_the_fields_out_and_gets_them_back_empty():
    report = report_from_summary(summary(JobState.RUNNING, [AttemptState.RUNNING]), include_attempts=True)
    assert not any(report.attempts[0].HasField(name) for name in ("locality", "end_cause", "end_phase"))
    (attempt,) = summary_from_report(report)["attempts"]
    assert (attempt["kind"], attempt["locality"], attempt["end_cause"], attempt["end_phase"]) == (MAP, "", "", "")


@pytest.mark.parametrize("field", ["kind", "locality", "end_cause", "end_phase"])
def test_an_unknown_kind_locality_or_end_is_one_invalid_argument(field):
    report = report_from_summary(summary(JobState.RUNNING, [AttemptState.RUNNING]), include_attempts=True)
    setattr(report.attempts[0], field, 42)
    with pytest.raises(InvalidArgument, match=rf"^TaskAttemptReport.{field}: 42 is not a known \w+Proto value"):
        summary_from_report(report)
