"""Unit tests of the NodeManager's pure state: the container lifecycle table, kills at every stage, the pmem
check, heartbeats, application cleanup, and random runs with a pretend executor checked by validate_state."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emrlab_common.lifecycle import InvalidTransition
from yarn.nodemanager.actor import ResourceManagerActor
from yarn.nodemanager.records import (
    CONTAINER_TRANSITIONS,
    ApplicationFinished,
    CleanUpApplication,
    CleanUpContainer,
    ContainerCleanedUp,
    ContainerEvent,
    ContainerLifecycle,
    DeleteApplicationDir,
    HealthChecked,
    HeartbeatAnswered,
    HeartbeatTick,
    InitializeAuxApplication,
    KillContainer,
    KillProcessGroup,
    LaunchContainer,
    LaunchFailed,
    LaunchProcess,
    LocalizeResources,
    MemoryMeasured,
    ProcessExited,
    ProcessLaunched,
    Register,
    Registered,
    Registration,
    ResourcesFailed,
    ResourcesLocalized,
    RunHealthCheck,
    SendHeartbeat,
    Shutdown,
    StartContainer,
    StopAuxApplication,
    StopContainer,
    Tick,
)
from yarn.nodemanager.state import CONTAINERS_MAX, NodeManagerLayout, NodeManagerState
from yarn.records import Container, ContainerExitStatus, ContainerLaunchContext, ContainerState, NodeAction, Resource

APPLICATION = "application_1700000000000_0007"
SIGKILL_DELAY_S = 0.25


def container(sequence: int = 2, memory_mb: int = 128) -> Container:
    return Container(f"container_1700000000000_0007_01_{sequence:06d}", "core-1", "127.0.0.1:4242",
                     Resource(memory_mb, 1))


HEARTBEAT_S, HEALTH_S = 1.0, 600.0


def new_state(delete_delay_s: float = 0.0, aux: tuple[str, ...] = ("mapreduce_shuffle",)) -> NodeManagerState:
    """A state registered with the ResourceManager at time 0, its first heartbeat answered."""
    state = NodeManagerState(NodeManagerLayout(Path("/nm/local"), Path("/nm/logs"), SIGKILL_DELAY_S, True,
                                               delete_delay_s, HEARTBEAT_S, HEALTH_S), aux)
    assert state.handle(HeartbeatTick(), 0.0) == [Register(())]
    assert state.handle(Registered((), NodeAction.NORMAL, ""), 0.0) == [RunHealthCheck()]
    assert state.handle(HealthChecked(True, ""), 0.0) == [SendHeartbeat((), True, "")]
    assert state.handle(heartbeat_answered(state), 0.0) == []
    return state


def heartbeat_answered(state: NodeManagerState, action: NodeAction = NodeAction.NORMAL, commands=()) -> HeartbeatAnswered:
    """The answer to a heartbeat that carried every status due."""
    return HeartbeatAnswered(tuple(state.statuses_for_heartbeat()), action, "", commands)


def start(state: NodeManagerState, item: Container, data: bytes = b"") -> list:
    context = ContainerLaunchContext(["sleep 1"], local_resources={"job.py": "file:///job.py"},
                                     service_data={"mapreduce_shuffle": data} if data else {})
    return state.handle(StartContainer(item, context, "alice"), 0.0)


def run(state: NodeManagerState, item: Container, pid: int = 4242) -> None:
    start(state, item)
    state.handle(ResourcesLocalized(item.id), 0.1)
    state.handle(ProcessLaunched(item.id, pid), 0.2)


def test_the_transition_table_is_hadoops_trimmed():
    _C, _E = ContainerLifecycle, ContainerEvent
    assert CONTAINER_TRANSITIONS[(_C.NEW, _E.INIT)] is _C.LOCALIZING
    assert CONTAINER_TRANSITIONS[(_C.LOCALIZING, _E.LOCALIZED)] is _C.SCHEDULED
    assert CONTAINER_TRANSITIONS[(_C.SCHEDULED, _E.LAUNCHED)] is _C.RUNNING
    assert CONTAINER_TRANSITIONS[(_C.RUNNING, _E.EXITED_WITH_SUCCESS)] is _C.EXITED_WITH_SUCCESS
    assert CONTAINER_TRANSITIONS[(_C.RUNNING, _E.KILL)] is _C.KILLING
    assert CONTAINER_TRANSITIONS[(_C.KILLING, _E.EXITED_WITH_SUCCESS)] is _C.EXITED_WITH_FAILURE
    assert CONTAINER_TRANSITIONS[(_C.EXITED_WITH_FAILURE, _E.CLEANED_UP)] is _C.DONE
    assert not any(state is _C.DONE for state, _ in CONTAINER_TRANSITIONS)  # DONE is final
    reachable = {_C.NEW} | set(CONTAINER_TRANSITIONS.values())
    assert reachable == set(_C)


def test_a_container_localizes_launches_runs_and_is_reported_complete_once():
    state, item = new_state(), container()
    commands = start(state, item)
    assert isinstance(commands[0], InitializeAuxApplication) and commands[0].application_id == APPLICATION
    (localize,) = commands[1:]
    assert isinstance(localize, LocalizeResources) and localize.local_resources == {"job.py": "file:///job.py"}
    assert localize.paths.work_dir == Path(f"/nm/local/usercache/alice/appcache/{APPLICATION}/{item.id}")
    assert state.status(item.id).state is ContainerState.NEW
    (launch,) = state.handle(ResourcesLocalized(item.id), 0.1)
    assert isinstance(launch, LaunchProcess) and launch.container == item
    assert state.handle(ProcessLaunched(item.id, 4242), 0.2) == []
    assert state.status(item.id).state is ContainerState.RUNNING
    (cleanup,) = state.handle(ProcessExited(item.id, 0), 5.0)
    assert cleanup == CleanUpContainer(item.id, Path(f"/nm/local/pids/{item.id}.pid"))
    assert state.status(item.id) == state.statuses_for_heartbeat()[0]
    assert (state.status(item.id).state, state.status(item.id).exit_status) == (ContainerState.COMPLETE, 0)
    state.handle(ContainerCleanedUp(item.id), 5.1)
    state.handle(heartbeat_answered(state), 6.0)
    assert state.statuses_for_heartbeat() == []  # the RM heard it once
    state.validate_state()


def test_exit_codes_become_exit_statuses_with_hadoops_diagnostics():
    state, item = new_state(), container()
    run(state, item)
    state.handle(ProcessExited(item.id, -9), 1.0)  # killed by signal 9 from outside
    status = state.status(item.id)
    assert status.exit_status == 137 and status.diagnostics == "Exception from container-launch. Exit code: 137"


def test_a_container_killed_while_localizing_never_launches_and_ends_with_the_kills_status():
    state, item = new_state(), container()
    start(state, item)
    assert state.handle(StopContainer(item.id, ContainerExitStatus.KILLED_BY_APPMASTER, "stop"), 0.1) == []
    assert state.containers[item.id].state is ContainerLifecycle.KILLING
    commands = state.handle(ResourcesLocalized(item.id), 0.2)
    assert not any(isinstance(command, LaunchProcess) for command in commands)
    assert state.status(item.id).exit_status == ContainerExitStatus.KILLED_BY_APPMASTER
    assert state.status(item.id).diagnostics == "stop"


def test_a_container_killed_while_its_launch_is_under_way_is_stopped_once_it_has_a_pid():
    state, item = new_state(), container()
    start(state, item)
    state.handle(ResourcesLocalized(item.id), 0.1)
    assert state.handle(StopContainer(item.id, ContainerExitStatus.KILLED_BY_RESOURCEMANAGER, "resync"), 0.2) == []
    assert state.handle(ProcessLaunched(item.id, 77), 0.3) == [KillProcessGroup(item.id, 77, SIGKILL_DELAY_S)]
    state.handle(ProcessExited(item.id, 0), 0.4)  # even a clean exit: it was killed
    assert state.status(item.id).exit_status == ContainerExitStatus.KILLED_BY_RESOURCEMANAGER


def test_a_running_container_is_killed_once_however_often_it_is_stopped():
    state, item = new_state(), container()
    run(state, item, pid=99)
    assert state.handle(StopContainer(item.id, ContainerExitStatus.KILLED_BY_APPMASTER, "a"), 1.0) == [
        KillProcessGroup(item.id, 99, SIGKILL_DELAY_S)]
    assert state.handle(StopContainer(item.id, ContainerExitStatus.KILLED_BY_APPMASTER, "b"), 1.1) == []
    assert state.status(item.id).state is ContainerState.RUNNING  # until its process is gone
    state.handle(ProcessExited(item.id, -15), 1.2)
    assert (state.status(item.id).exit_status, state.status(item.id).diagnostics) == (
        ContainerExitStatus.KILLED_BY_APPMASTER, "a")
    assert state.handle(StopContainer("container_1700000000000_0007_01_000099", -105, "unknown"), 1.3) == []


def test_localization_and_launch_failures_end_the_container_as_invalid():
    state, first, second = new_state(), container(2), container(3)
    start(state, first)
    start(state, second)
    state.handle(ResourcesFailed(first.id, "cannot localize job.py"), 0.1)
    assert (state.status(first.id).exit_status, state.status(first.id).diagnostics) == (
        ContainerExitStatus.INVALID, "cannot localize job.py")
    state.handle(ResourcesLocalized(second.id), 0.1)
    state.handle(LaunchFailed(second.id, "no bash"), 0.2)
    assert state.status(second.id).diagnostics == "cannot launch container: no bash"


def test_an_event_the_lifecycle_does_not_take_is_a_loud_bug():
    state, item = new_state(), container()
    start(state, item)
    with pytest.raises(InvalidTransition, match="EXITED_WITH_SUCCESS in state LOCALIZING"):
        state.handle(ProcessExited(item.id, 0), 0.1)


def test_the_pmem_check_kills_only_a_running_container_over_its_memory():
    state, small, large = new_state(), container(2, memory_mb=128), container(3, memory_mb=512)
    run(state, small, pid=10)
    run(state, large, pid=11)
    commands = state.handle(MemoryMeasured({10: 200 << 20, 11: 200 << 20}), 3.0)
    assert commands == [KillProcessGroup(small.id, 10, SIGKILL_DELAY_S)]
    state.handle(ProcessExited(small.id, -15), 3.1)
    assert state.status(small.id).exit_status == ContainerExitStatus.KILLED_EXCEEDED_PMEM
    assert "running beyond physical memory limits" in state.status(small.id).diagnostics


def test_aux_services_hear_an_application_once_and_again_only_for_new_data():
    state = new_state()
    assert sum(isinstance(command, InitializeAuxApplication) for command in start(state, container(2), b"t1")) == 1
    assert not any(isinstance(command, InitializeAuxApplication) for command in start(state, container(3), b"t1"))
    (again, _) = start(state, container(4), b"t2")
    assert again == InitializeAuxApplication("mapreduce_shuffle", APPLICATION, "alice", b"t2")


def test_a_finished_application_waits_for_its_containers_then_cleans_up_and_is_forgotten():
    state, item = new_state(delete_delay_s=10.0), container()
    run(state, item, pid=5)
    assert state.handle(ApplicationFinished(APPLICATION), 1.0) == [KillProcessGroup(item.id, 5, SIGKILL_DELAY_S)]
    state.handle(ProcessExited(item.id, -15), 1.1)
    assert state.status(item.id).exit_status == ContainerExitStatus.KILLED_AFTER_APP_COMPLETION
    assert state.handle(ContainerCleanedUp(item.id), 1.2) == [StopAuxApplication("mapreduce_shuffle", APPLICATION)]
    assert state.containers == {} and state.applications == {}
    assert state.handle(Tick(), 5.0) == []  # yarn.nodemanager.delete.debug-delay-sec
    assert state.handle(Tick(), 11.2) == [
        DeleteApplicationDir(APPLICATION, Path(f"/nm/local/usercache/alice/appcache/{APPLICATION}"))]
    assert state.handle(ApplicationFinished(APPLICATION), 12.0) == []  # said twice: nothing more to do


def test_after_a_resync_every_container_is_reported_again_and_none_is_stopped():
    state, done, running = new_state(), container(2), container(3)
    run(state, done)
    run(state, running, pid=7)
    state.handle(ProcessExited(done.id, 0), 1.0)
    state.handle(ContainerCleanedUp(done.id), 1.0)
    state.handle(heartbeat_answered(state), 1.5)
    assert [status.container_id for status in state.statuses_for_heartbeat()] == [running.id]
    (register,) = state.handle(heartbeat_answered(state, NodeAction.RESYNC), 2.1)  # no container is stopped
    assert {(item.id, status.state) for item, status in register.reports} == {
        (done.id, ContainerState.COMPLETE), (running.id, ContainerState.RUNNING)}
    assert {status.container_id for status in state.statuses_for_heartbeat()} == {done.id, running.id}
    state.validate_state()


def test_a_node_holds_a_bounded_number_of_containers():
    state = new_state(aux=())
    for sequence in range(2, CONTAINERS_MAX + 2):
        start(state, container(sequence))
    assert not state.has_room()
    state.handle(ApplicationFinished(APPLICATION), 1.0)
    for known in list(state.containers.values()):
        state.handle(ResourcesLocalized(known.container_id), 1.1)  # killed while localizing: never launched
        state.handle(ContainerCleanedUp(known.container_id), 1.2)
    assert state.has_room() and state.containers == {}


# ---------------------------------------------------------------- the conversation with the ResourceManager

def test_it_heartbeats_every_interval_and_checks_health_when_due_reporting_what_it_found():
    state = new_state()
    assert state.heartbeat_wait_s(0.4) == pytest.approx(0.6)
    assert state.handle(HeartbeatTick(), 0.5) == []  # nothing due yet
    assert state.handle(HeartbeatTick(), 1.0) == [SendHeartbeat((), True, "")]
    state.handle(heartbeat_answered(state), 1.0)
    assert state.handle(HeartbeatTick(), HEALTH_S) == [RunHealthCheck()]
    assert state.handle(HealthChecked(False, "local dir /nm/local is not writable"), HEALTH_S) == [
        SendHeartbeat((), False, "local dir /nm/local is not writable")]
    state.validate_state()


def test_a_completed_container_brings_a_heartbeat_at_once_out_of_band_then_the_interval_resumes():
    state, item = new_state(), container()
    run(state, item)
    assert state.heartbeat_wait_s(0.3) == pytest.approx(0.7)  # running: nothing to tell before the interval
    state.handle(ProcessExited(item.id, 0), 0.3)
    assert state.heartbeat_wait_s(0.3) == 0.0
    (heartbeat,) = state.handle(HeartbeatTick(), 0.3)
    assert [(status.container_id, status.state) for status in heartbeat.statuses] == [
        (item.id, ContainerState.COMPLETE)]
    state.handle(heartbeat_answered(state), 0.35)
    assert state.heartbeat_wait_s(0.35) == pytest.approx(1.0)
    killed = container(3)
    start(state, killed)
    state.handle(StopContainer(killed.id, ContainerExitStatus.KILLED_BY_APPMASTER, "stopped"), 0.4)
    assert state.heartbeat_wait_s(0.4) == pytest.approx(0.95)  # killed while localizing: it ends when that does
    state.handle(ResourcesLocalized(killed.id), 0.5)
    assert state.status(killed.id).state is ContainerState.COMPLETE and state.heartbeat_wait_s(0.5) == 0.0
    state.validate_state()


def test_a_failed_call_leaves_what_was_due_due():
    state = new_state()
    assert state.handle(HeartbeatTick(), 1.0) == [SendHeartbeat((), True, "")]
    assert state.handle(HeartbeatTick(), 1.6) == [SendHeartbeat((), True, "")]  # no answer came: it goes again


def test_the_resource_managers_orders_ride_back_on_the_heartbeat_in_order():
    state = new_state()
    orders = (LaunchContainer(container(2), ContainerLaunchContext(["true"]), "alice"), KillContainer(container(3).id),
              CleanUpApplication(APPLICATION))
    assert state.handle(heartbeat_answered(state, commands=orders), 1.0) == list(orders)


def test_resync_registers_again_at_once_and_shutdown_or_a_refusal_stops_the_node():
    state = new_state()
    assert state.handle(heartbeat_answered(state, NodeAction.RESYNC), 1.0) == [Register(())]
    assert state.registration is Registration.UNREGISTERED and state.heartbeat_wait_s(1.0) == 0.0
    assert state.handle(Registered((), NodeAction.NORMAL, ""), 1.1) == [SendHeartbeat((), True, "")]
    assert state.handle(HeartbeatAnswered((), NodeAction.SHUTDOWN, "decommissioned", (KillContainer("c"),)), 1.2) \
        == [Shutdown("decommissioned")]
    assert state.registration is Registration.SHUT_DOWN and state.handle(HeartbeatTick(), 9.0) == []
    refused = NodeManagerState(NodeManagerLayout(Path("/nm/local"), Path("/nm/logs"), SIGKILL_DELAY_S, True, 0.0))
    refused.handle(HeartbeatTick(), 0.0)
    assert refused.handle(Registered((), NodeAction.SHUTDOWN, "excluded"), 0.0) == [Shutdown("excluded")]
    assert refused.handle(HeartbeatTick(), 1.0) == []


# ---------------------------------------------------------------- random runs with a pretend executor

RESULTS = {  # what an executor may report for each command it was given
    LocalizeResources: lambda command, draw: draw(st.sampled_from([
        ResourcesLocalized(command.container_id), ResourcesFailed(command.container_id, "gone")])),
    LaunchProcess: lambda command, draw: draw(st.sampled_from([
        ProcessLaunched(command.container.id, 1000 + int(command.container.id[-2:])),
        LaunchFailed(command.container.id, "no bash")])),
    CleanUpContainer: lambda command, draw: ContainerCleanedUp(command.container_id),
}


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_runs_keep_the_state_consistent(data):
    state = new_state()
    pending: list = []  # commands the pretend executor has not answered yet
    running: set[str] = set()  # containers whose process was launched and has not exited
    now_s = 0.0
    for _ in range(data.draw(st.integers(5, 40))):
        now_s += 0.1
        choice = data.draw(st.sampled_from(["start", "stop", "answer", "exit", "finish", "memory", "heartbeat"]))
        if choice == "start":
            event = StartContainer(container(data.draw(st.integers(2, 6))), ContainerLaunchContext(["true"]), "alice")
        elif choice == "stop" and state.containers:
            event = StopContainer(data.draw(st.sampled_from(sorted(state.containers))), -105, "stop")
        elif choice == "answer" and pending:
            command = pending.pop(data.draw(st.integers(0, len(pending) - 1)))
            if type(command) not in RESULTS:
                continue
            event = RESULTS[type(command)](command, data.draw)
        elif choice == "exit" and running:
            event = ProcessExited(data.draw(st.sampled_from(sorted(running))), data.draw(st.sampled_from([0, 1, -15])))
        elif choice == "finish":
            event = ApplicationFinished(APPLICATION)
        elif choice == "memory":
            event = MemoryMeasured({1000 + sequence: 1 << 40 for sequence in range(2, 7)})
        elif choice == "heartbeat":
            event = heartbeat_answered(state)
        else:
            continue
        if isinstance(event, ProcessLaunched):
            running.add(event.container_id)
        if isinstance(event, ProcessExited):
            running.discard(event.container_id)
        pending += state.handle(event, now_s)
        state.validate_state()
        for known in state.containers.values():
            if known.container_id in running:
                assert known.state in (ContainerLifecycle.RUNNING, ContainerLifecycle.KILLING)


def test_an_rm_answering_resync_again_and_again_is_carried_out_in_a_loop_not_by_recursion():
    state = new_state()
    heartbeats: list[SendHeartbeat] = []

    class StateOnly:  # the actor's view of a NodeManager: its state; no process runs
        def submit(self, event):
            return state.handle(event, 2.0)

    class ScriptedResourceManager(ResourceManagerActor):  # the RM's answers: RESYNC 3000 times, then NORMAL
        def _execute(self, command):
            match command:
                case Register(reports):
                    return self.node.submit(Registered(tuple(status for _, status in reports), NodeAction.NORMAL, ""))
                case RunHealthCheck():
                    return self.node.submit(HealthChecked(True, ""))
                case SendHeartbeat(statuses):
                    heartbeats.append(command)
                    action = NodeAction.RESYNC if len(heartbeats) <= 3000 else NodeAction.NORMAL
                    return self.node.submit(HeartbeatAnswered(statuses, action, ""))
            raise AssertionError(f"unexpected {command!r}")

    actor = ScriptedResourceManager(StateOnly(), on_shutdown=None)
    actor._carry_out(state.handle(HeartbeatTick(), 2.0))
    assert len(heartbeats) == 3001 and state.heartbeat_wait_s(2.0) == HEARTBEAT_S
