"""MRAppMaster, the AM's I/O shell, with a pretend YARN and the local file system: no processes.

The shell turns allocate answers into events and the machine's commands into
YARN and file system calls; these tests check that bookkeeping (which request
belongs to which attempt, what a task pulls, commit, history, cleanup).
"""

from __future__ import annotations

import json

import pytest

from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument
from mapreduce.api.fs import LocalFileSystem
from mapreduce.appmaster import containers as containers_module
from mapreduce.appmaster import master as master_module
from mapreduce.appmaster.config import FOLLOW_UP_DELAYS_S, AppMasterConfig
from mapreduce.appmaster.description import JobDescription
from mapreduce.appmaster.master import MRAppMaster
from mapreduce.appmaster.records import AttemptStarted, AttemptSucceeded, CommitRequested, JobState, StartJob
from mapreduce.task.attempt import TaskAttempt
from yarn.records import AllocateResponse, Container, ContainerState, ContainerStatus, NodeReport, NodeState, Resource

JOB_ID = "job_1700000000000_0042"


class PretendRM:
    """AMRMClient's surface: requests keep the ids the AM chose; allocate hands out what the test queued."""

    def __init__(self):
        self.pending: dict[int, object] = {}
        self.removed: list[int] = []
        self.released: list[str] = []
        self.responses: list[AllocateResponse] = []

    def add_request(self, request):
        assert request.allocation_request_id > 0 and request.allocation_request_id not in self.pending
        self.pending[request.allocation_request_id] = request
        return request

    def remove_request(self, request) -> None:
        self.removed.append(request.allocation_request_id)
        self.pending.pop(request.allocation_request_id, None)

    def release(self, container_id: str) -> None:
        self.released.append(container_id)

    def allocate(self, progress: float) -> AllocateResponse:
        if self.responses:
            return self.responses.pop(0)
        return AllocateResponse([], [], [], Resource(0, 0), 3)

    def give(self, container_id: str, node_id: str, request_id: int) -> Container:
        request = self.pending.pop(request_id)
        container = Container(container_id, node_id, f"{node_id}:9", request.resource, request.priority, request_id)
        self.responses.append(AllocateResponse([container], [], [], Resource(0, 0), 3))
        return container


class PretendNM:
    def __init__(self):
        self.started: list[str] = []
        self.stopped: list[str] = []

    def start_container(self, container, launch_context) -> None:
        self.started.append(container.id)

    def stop_container(self, container) -> None:
        self.stopped.append(container.id)


class PretendHdfs:
    """The few hdfs.Client calls the history writer makes, on a dict."""

    def __init__(self):
        self.files: dict[str, bytes] = {}

    def mkdirs(self, path: str) -> None:
        pass

    def write_bytes(self, path: str, data: bytes, overwrite: bool = False) -> None:
        self.files[path] = data

    def exists(self, path: str) -> bool:
        return path in self.files

    def delete(self, path: str) -> None:
        del self.files[path]

    def rename(self, source: str, destination: str) -> None:
        self.files[destination] = self.files.pop(source)


def new_appmaster(tmp_path, config: AppMasterConfig, amrm) -> MRAppMaster:
    for index in range(2):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"part-{index}.txt").write_text("a b a\nc a\n" * 10)
    (tmp_path / "staging").mkdir()
    description = JobDescription(
        job_id=JOB_ID, name="WordCount", user="alice", job_reference="mapreduce.examples.wordcount:WordCount",
        input_paths=(str(tmp_path / "in"),), output_dir=str(tmp_path / "out"), staging_dir=str(tmp_path / "staging"),
        properties={"mapreduce.job.reduces": "1"})
    return MRAppMaster(description, config, amrm=amrm, nm=PretendNM(), fs=LocalFileSystem(), hdfs_client=PretendHdfs(),
                       task_launch_context=lambda attempt_id: None, sleep=lambda seconds: None)


@pytest.fixture
def appmaster(tmp_path):
    master = new_appmaster(tmp_path, AppMasterConfig(reduce_slowstart_completed_maps=1.0), PretendRM())
    master.handle(StartJob())
    master._execute_pending()
    return master


def step(master) -> None:
    """One turn of the AM's main loop, without its sleep."""
    master._heartbeat()
    master._execute_pending()


def attempt(kind: str, index: int, number: int = 0) -> str:
    return f"attempt_1700000000000_0042_{kind}_{index:06d}_{number}"


def test_a_container_given_for_one_map_can_run_another_and_no_request_is_lost(appmaster):
    rm, nm = appmaster.yarn.amrm, appmaster.yarn.nm
    assert sorted(rm.pending) == [1, 2]  # one request per map
    requests = appmaster.machine.requests
    first_request, second_request = requests.request_of(attempt("m", 0)), requests.request_of(attempt("m", 1))
    # YARN satisfies map 1's request; the machine gives the container to map 0, the oldest waiting.
    rm.give("c1", "core-1", second_request)
    step(appmaster)
    assert appmaster.machine.attempt_for_container("c1").attempt_id == attempt("m", 0)
    assert nm.started == ["c1"] and rm.removed == []
    # Map 1 now owns map 0's still-pending request, and gets the next container.
    assert requests.request_of(attempt("m", 1)) == first_request and requests.attempts() == {attempt("m", 1)}
    assert set(appmaster.yarn.asked) == {first_request}
    rm.give("c2", "core-2", first_request)
    step(appmaster)
    assert appmaster.machine.attempt_for_container("c2").attempt_id == attempt("m", 1)
    assert nm.started == ["c1", "c2"] and rm.removed == [] and rm.pending == {}


def test_a_task_pulls_the_engines_attempt_and_the_job_commits_and_leaves_history(appmaster, tmp_path):
    rm = appmaster.yarn.amrm
    for container_id, request in (("c1", 1), ("c2", 2)):
        rm.give(container_id, "core-1", request)
        step(appmaster)
    attempt_id, data, map_count = appmaster.task_for_container("c1")
    task_attempt = TaskAttempt.from_wire(data)
    assert (attempt_id, task_attempt.attempt_id, map_count) == (attempt("m", 0), attempt("m", 0), 2)
    assert task_attempt.split is not None and task_attempt.num_reduces == 1
    assert task_attempt.output_dir == str(tmp_path / "out")
    for map_attempt in (attempt("m", 0), attempt("m", 1)):
        appmaster.handle(AttemptStarted(map_attempt))
        appmaster.handle(AttemptSucceeded(map_attempt, {"g": {"n": 1}}))
    appmaster._execute_pending()
    (reduce_request,) = rm.pending
    rm.give("c3", "core-2", reduce_request)
    step(appmaster)
    appmaster.handle(AttemptStarted(attempt("r", 0)))
    appmaster.handle(CommitRequested(attempt("r", 0)))
    assert appmaster.commit_granted(attempt("r", 0))
    appmaster.handle(AttemptSucceeded(attempt("r", 0), {"g": {"n": 1}}))
    appmaster._execute_pending()
    assert appmaster.final_state is JobState.SUCCEEDED
    assert (tmp_path / "out" / "_SUCCESS").exists()
    assert not (tmp_path / "staging").exists()
    history = json.loads(appmaster.hdfs_client.files[f"/tmp/hadoop-yarn/staging/history/done/{JOB_ID}.json"])
    assert history["state"] == "SUCCEEDED" and history["counters"]["g"] == {"n": 3}
    assert history["user"] == "alice" and len(history["attempts"]) == 3


def test_a_lost_node_and_a_failed_container_reach_the_machine(appmaster):
    rm, nm = appmaster.yarn.amrm, appmaster.yarn.nm
    rm.give("c1", "core-1", 1)
    rm.give("c2", "core-2", 2)
    step(appmaster)
    step(appmaster)
    rm.responses.append(AllocateResponse(
        [], [ContainerStatus("c2", ContainerState.COMPLETE, 1, "exit code 1")],
        [NodeReport("core-1", "core-1:9", NodeState.LOST, "CORE", Resource(0, 0), Resource(0, 0), 0)],
        Resource(0, 0), 3))
    step(appmaster)
    machine = appmaster.machine
    assert machine.attempts[attempt("m", 0)].state.value == "KILLED"  # its node was lost: not its fault
    assert machine.attempts[attempt("m", 1)].state.value == "FAILED"
    assert sorted(nm.stopped) == ["c1", "c2"]
    assert {attempt("m", 0, 1), attempt("m", 1, 1)} == appmaster.machine.requests.attempts()


def test_a_decommissioning_node_reaches_the_machine_as_an_enum_state(appmaster):
    rm, nm = appmaster.yarn.amrm, appmaster.yarn.nm
    rm.give("c1", "task-1", 1)
    step(appmaster)
    appmaster.handle(AttemptStarted(attempt("m", 0)))
    rm.responses.append(AllocateResponse(
        [], [], [NodeReport("task-1", "task-1:9", NodeState.DECOMMISSIONING, "TASK", Resource(0, 0), Resource(0, 0), 1)],
        Resource(0, 0), 3))
    step(appmaster)
    machine = appmaster.machine
    assert machine.decommissioning_nodes == {"task-1"}
    moved = machine.attempts[attempt("m", 0)]
    assert moved.state.value == "KILLED" and moved.end_cause.value == "NODE_DECOMMISSIONING"
    assert nm.stopped == ["c1"] and attempt("m", 0, 1) in machine.requests.attempts()
    # The new attempt's request went to YARN under the id the machine chose.
    assert machine.requests.request_of(attempt("m", 0, 1)) in rm.pending


def test_tasks_and_clients_are_refused_while_the_command_queue_is_full(appmaster, monkeypatch):
    from emrlab_common.errors import ResourceExhausted
    from mapreduce.appmaster.records import Tick

    monkeypatch.setattr(master_module, "COMMANDS_QUEUED_MAX", 2)
    appmaster._pending.extend([Tick(), Tick()])  # stand-ins for commands the main thread has not run yet
    with pytest.raises(ResourceExhausted, match="busy"):
        appmaster.handle(AttemptStarted(attempt("m", 0)))
    appmaster._handle_own(Tick())  # the main thread's own events always go in
    assert len(appmaster._pending) == 2


def test_completed_and_stopped_containers_are_forgotten_so_the_held_ones_stay_within_the_bound(appmaster,
                                                                                             monkeypatch):
    monkeypatch.setattr(containers_module, "CONTAINERS_HELD_MAX", 2)
    rm = appmaster.yarn.amrm
    rm.give("c1", "core-1", 1)
    rm.give("c2", "core-2", 2)
    step(appmaster)
    step(appmaster)
    assert set(appmaster.yarn.held) == {"c1", "c2"}
    rm.responses.append(AllocateResponse([], [ContainerStatus("c1", ContainerState.COMPLETE, 1, "exit code 1")], [],
                                         Resource(0, 0), 3))
    step(appmaster)
    assert set(appmaster.yarn.held) == {"c2"}  # its attempt failed; the next one asks for another
    (retry_request,) = rm.pending
    rm.give("c3", "core-1", retry_request)
    step(appmaster)  # three given, two held: past the bound it would be an AssertionError
    assert set(appmaster.yarn.held) == {"c2", "c3"}
    rm.responses.append(AllocateResponse(
        [], [], [NodeReport("core-2", "core-2:9", NodeState.LOST, "CORE", Resource(0, 0), Resource(0, 0), 0)],
        Resource(0, 0), 3))
    step(appmaster)
    assert set(appmaster.yarn.held) == {"c3"}  # stopped with its node (YARN says it completed later)


class GrantingRM(PretendRM):
    """Grants every pending request at the next allocate, and says whether asks wait to be sent."""

    def __init__(self):
        super().__init__()
        self.unsent: set[int] = set()
        self.allocate_calls = 0

    def add_request(self, request):
        self.unsent.add(request.allocation_request_id)
        return super().add_request(request)

    @property
    def has_news(self) -> bool:
        return bool(self.unsent)

    def allocate(self, progress: float) -> AllocateResponse:
        self.allocate_calls += 1
        self.unsent.clear()
        granted = [Container(f"c{request_id}", "core-1", "core-1:9", request.resource, request.priority, request_id)
                   for request_id, request in self.pending.items()]
        self.pending.clear()
        return AllocateResponse(granted, [], [], Resource(0, 0), 3)


def test_a_task_event_that_brings_new_requests_has_the_main_loop_heartbeat_at_once(tmp_path):
    import threading

    from mapreduce.appmaster.records import KillJob
    from tests.conftest import wait_until

    # An interval longer than the test: the reducer's container can only come with an early heartbeat.
    config = AppMasterConfig(reduce_slowstart_completed_maps=1.0, scheduler_heartbeat_interval_s=600.0)
    master = new_appmaster(tmp_path, config, GrantingRM())
    rm, nm = master.yarn.amrm, master.yarn.nm
    loop = threading.Thread(target=master.run, daemon=True)
    loop.start()
    try:
        wait_until(lambda: len(nm.started) == 2, what="both maps launched by the first heartbeat")
        for map_attempt in (attempt("m", 0), attempt("m", 1)):
            master.handle(AttemptStarted(map_attempt))
            master.handle(AttemptSucceeded(map_attempt, {}))
        wait_until(lambda: len(nm.started) == 3, what="the reducer's container, asked for and launched at once")
        assert rm.allocate_calls == 2
    finally:
        master.handle(KillJob())
        loop.join(timeout=30)
    assert not loop.is_alive() and master.final_state is JobState.KILLED


class NodeHeartbeatRM(GrantingRM):
    """Grants a request only at the allocate after the one that brought it, as YARN places a container at a
    NodeManager's heartbeat, which the AM's next allocate then hears of."""

    def __init__(self):
        super().__init__()
        self.heard: set[int] = set()

    def allocate(self, progress: float) -> AllocateResponse:
        self.allocate_calls += 1
        self.unsent.clear()
        granted = [Container(f"c{request_id}", "core-1", "core-1:9", request.resource, request.priority, request_id)
                   for request_id, request in self.pending.items() if request_id in self.heard]
        for container in granted:
            del self.pending[container.allocation_request_id]
        self.heard = set(self.pending)
        return AllocateResponse(granted, [], [], Resource(0, 0), 3)


@pytest.mark.parametrize("follow_ups", [3, 0])
def test_asks_not_granted_at_once_are_picked_up_by_follow_up_heartbeats_not_a_whole_interval_later(
        tmp_path, follow_ups):
    import threading
    import time

    from mapreduce.appmaster.records import KillJob
    from tests.conftest import wait_until

    config = AppMasterConfig(reduce_slowstart_completed_maps=1.0, scheduler_heartbeat_interval_s=600.0,
                             follow_up_heartbeats=follow_ups)
    master = new_appmaster(tmp_path, config, NodeHeartbeatRM())
    rm, nm = master.yarn.amrm, master.yarn.nm
    loop = threading.Thread(target=master.run, daemon=True)
    loop.start()
    try:
        if follow_ups:
            wait_until(lambda: len(nm.started) == 2, what="both maps, granted at the first follow-up")
            time.sleep(max(FOLLOW_UP_DELAYS_S) + 0.2)
            assert rm.allocate_calls == 2  # the rest of the series was dropped: nothing is asked any more
        else:  # Hadoop's AM: the maps wait for the next interval (here, the end of the test)
            time.sleep(max(FOLLOW_UP_DELAYS_S) + 0.2)
            assert rm.allocate_calls == 1 and nm.started == []
    finally:
        master.handle(KillJob())
        loop.join(timeout=30)
    assert not loop.is_alive() and master.final_state is JobState.KILLED


def test_after_a_failed_allocate_unsent_asks_wait_for_the_interval_so_a_down_rm_is_not_called_in_a_loop(tmp_path):
    from emrlab_common.errors import Unavailable

    class DownRM(GrantingRM):
        def allocate(self, progress: float) -> AllocateResponse:
            raise Unavailable("connection refused")

    master = new_appmaster(tmp_path, AppMasterConfig(), DownRM())
    master.handle(StartJob())
    master._execute_pending()
    assert master.yarn.has_news  # the maps' requests
    master._heartbeat()
    assert not master.yarn.has_news and master.yarn.amrm.has_news  # still to send, at the next interval


@pytest.mark.parametrize("text", ["4", "-1", "three"])
def test_follow_up_heartbeats_outside_the_delays_are_refused_in_one_line(text):
    with pytest.raises(InvalidArgument) as caught:
        load(AppMasterConfig, {"emrlab.am.scheduler.follow-up-heartbeats": text})
    assert str(caught.value).startswith("emrlab.am.scheduler.follow-up-heartbeats: ")
    assert "\n" not in str(caught.value)
    assert load(AppMasterConfig, {"emrlab.am.scheduler.follow-up-heartbeats": "2"}).follow_up_heartbeats == 2
