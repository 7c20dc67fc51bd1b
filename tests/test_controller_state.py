"""The cluster controller's state machine alone, on a fake clock: every lifecycle, every ActionOnFailure,
step concurrency, auto-termination, core replacement, resize refusals, and replay of the journal."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from emrlab.controller.journal import Journal, decode, encode
from emrlab.controller.messages import (
    AddSteps,
    CancelStep,
    CancelSteps,
    ClusterCreated,
    ClusterHealthy,
    DecommissionInstance,
    InstanceDecommissioned,
    InstanceFailed,
    InstanceProvisioned,
    InstanceStarted,
    InstanceStopped,
    LaunchInstance,
    ResizeGroup,
    SetTerminationProtection,
    StartCluster,
    StartStep,
    StepExited,
    StopCluster,
    StopController,
    Terminate,
    TerminateInstance,
    Tick,
    WaitHealthy,
    WatchStep,
)
from emrlab.controller.records import (
    ActionOnFailure,
    BootstrapAction,
    ClusterState,
    GroupDefinition,
    InstanceGroupState,
    InstanceReason,
    InstanceState,
    Role,
    StepDefinition,
    StepState,
    derived_id,
)
from emrlab.controller.state import ControllerState, snapshot
from emrlab_common.errors import FailedPrecondition, InvalidArgument, NotFound
from emrlab_common.lifecycle import InvalidTransition

CLUSTER_ID = "j-TESTCLUSTER01"


def created(core=2, task=0, keep_alive=True, protected=False, concurrency=1, idle_timeout_s=None, bootstrap=()):
    groups = [GroupDefinition("Master", Role.MASTER, "m5.xlarge", 1), GroupDefinition("Core", Role.CORE, "m5.xlarge", core)]
    if task:
        groups.append(GroupDefinition("Task", Role.TASK, "m5.xlarge", task))
    return ClusterCreated(CLUSTER_ID, "test", 0.0, keep_alive, protected, concurrency, idle_timeout_s, tuple(bootstrap),
                          tuple(groups), tuple(derived_id("ig-", CLUSTER_ID, index) for index in range(len(groups))))


def step(name, action=ActionOnFailure.CONTINUE):
    return StepDefinition(name, ("bash", "-c", name), action)


class Driver:
    """The state machine plus a pretend shell that carries commands out at once, on a clock we move."""

    def __init__(self, replication=1, **options):
        steps = options.pop("steps", ())
        self.state = ControllerState(replication)
        self.now_s = 0.0
        self.journal: list = []
        self.state.create(created(**options), steps, self.now_s)
        self.journal += self.state.take_edits()
        self.commands: list = []

    def send(self, event):
        self.now_s += 1.0
        try:
            commands = self.state.handle(event, self.now_s)
        finally:
            self.journal += self.state.take_edits()
        self.commands += commands
        self.state.validate_state()
        return commands

    def of(self, kind):
        return [command for command in self.commands if isinstance(command, kind)]

    def bring_up(self, instance_ids=None):
        """Provision and start every instance the state asks for, then report HDFS/YARN healthy."""
        self.send(StartCluster())
        for _ in range(4):
            launches = [command for command in self.of(LaunchInstance)
                        if self.state.instances[command.instance_id].state is not InstanceState.RUNNING]
            for launch in launches:
                self.send(InstanceProvisioned(launch.instance_id))
                self.send(InstanceStarted(launch.instance_id))
        if self.of(WaitHealthy):
            self.send(ClusterHealthy())

    def instances(self, role, state=None):
        return [instance for instance in self.state.instances.values()
                if instance.role is role and (state is None or instance.state is state)]

    def group(self, role):
        return self.state.group_of_role(role)

    def replayed(self) -> ControllerState:
        replica = ControllerState(self.state.replication)
        for edit in self.journal:
            replica.apply(decode(encode(edit)))
        return replica


# ---------------------------------------------------------------- start-up


def test_the_master_starts_first_then_the_others_then_the_cluster_waits():
    driver = Driver(core=2, task=1)
    assert driver.state.state is ClusterState.STARTING
    first = driver.send(StartCluster())
    assert [command.role for command in first if isinstance(command, LaunchInstance)] == [Role.MASTER]
    master = first[0].instance_id
    driver.send(InstanceProvisioned(master))
    assert driver.state.state is ClusterState.BOOTSTRAPPING
    assert driver.group(Role.MASTER).state is InstanceGroupState.BOOTSTRAPPING
    others = driver.send(InstanceStarted(master))
    assert sorted(command.role.value for command in others if isinstance(command, LaunchInstance)) == ["CORE", "CORE", "TASK"]
    for command in others:
        driver.send(InstanceProvisioned(command.instance_id))
    assert not driver.of(WaitHealthy)
    for command in others:
        driver.send(InstanceStarted(command.instance_id))
    assert driver.of(WaitHealthy) == [WaitHealthy(first_start=True)]
    driver.send(ClusterHealthy())
    assert driver.state.state is ClusterState.WAITING
    assert all(group.state is InstanceGroupState.RUNNING for group in driver.state.groups.values())
    assert driver.state.ready_s is not None


def test_ids_have_emr_shapes_and_are_stable():
    driver = Driver(core=1)
    assert driver.state.cluster_id.startswith("j-")
    assert all(group_id.startswith("ig-") and len(group_id) == 16 for group_id in driver.state.groups)
    for instance in driver.state.instances.values():
        assert instance.instance_id.startswith("ci-") and len(instance.instance_id) == 16
        assert instance.ec2_instance_id.startswith("i-") and len(instance.ec2_instance_id) == 19
    assert {instance.node_name for instance in driver.state.instances.values()} == {"master", "core-1"}


def test_a_failed_bootstrap_action_on_first_start_ends_the_cluster_with_errors():
    driver = Driver(core=1, bootstrap=(BootstrapAction("setup", "/bin/false"),))
    launch = driver.send(StartCluster())[0]
    assert launch.bootstrap_actions == (BootstrapAction("setup", "/bin/false"),)
    driver.send(InstanceProvisioned(launch.instance_id))
    driver.send(InstanceFailed(launch.instance_id, InstanceReason.BOOTSTRAP_FAILURE,
                               "bootstrap action 1 returned a non-zero return code"))
    assert driver.state.state is ClusterState.TERMINATING
    assert driver.state.reason.code == "BOOTSTRAP_FAILURE"
    for command in driver.of(TerminateInstance):
        driver.send(InstanceStopped(command.instance_id))
    assert driver.state.state is ClusterState.TERMINATED_WITH_ERRORS
    assert driver.of(StopController)
    master = driver.instances(Role.MASTER)[0]
    assert master.reason.code == "BOOTSTRAP_FAILURE"
    assert all(instance.state is InstanceState.TERMINATED for instance in driver.state.instances.values())


def test_a_transient_cluster_runs_its_steps_and_terminates():
    driver = Driver(core=1, keep_alive=False, steps=(step("a"), step("b")))
    driver.bring_up()
    assert driver.state.state is ClusterState.RUNNING
    first = driver.of(StartStep)
    assert len(first) == 1
    driver.send(StepExited(first[0].step_id, 0))
    second = driver.of(StartStep)[1]
    driver.send(StepExited(second.step_id, 0))
    assert driver.state.state is ClusterState.TERMINATING
    assert driver.state.reason.code == "ALL_STEPS_COMPLETED"
    for command in driver.of(TerminateInstance):
        driver.send(InstanceStopped(command.instance_id))
    assert driver.state.state is ClusterState.TERMINATED
    assert [item.state for item in driver.state.steps.values()] == [StepState.COMPLETED, StepState.COMPLETED]


def test_a_transient_cluster_with_no_steps_ends_once_it_is_up():
    driver = Driver(core=1, keep_alive=False)
    driver.bring_up()
    assert driver.state.state is ClusterState.TERMINATING and driver.state.reason.code == "ALL_STEPS_COMPLETED"


# ---------------------------------------------------------------- steps


def run_steps(driver, exit_codes):
    """Finish running steps in order with these exit codes."""
    for exit_code in exit_codes:
        running = driver.state.steps_in(StepState.RUNNING)
        assert running, "no step is running"
        driver.send(StepExited(running[0].step_id, exit_code))


def test_continue_goes_on_after_a_failure():
    driver = Driver(core=1, steps=(step("a"), step("b"), step("c")))
    driver.bring_up()
    run_steps(driver, [0, 1, 0])
    assert [item.state for item in driver.state.steps.values()] == [StepState.COMPLETED, StepState.FAILED,
                                                                    StepState.COMPLETED]
    assert driver.state.state is ClusterState.WAITING
    failed = list(driver.state.steps.values())[1]
    assert failed.reason.message == "Step failed with exitCode 1" and failed.exit_code == 1


def test_cancel_and_wait_cancels_the_pending_steps_and_the_cluster_waits():
    driver = Driver(core=1, steps=(step("a"), step("b", ActionOnFailure.CANCEL_AND_WAIT), step("c")))
    driver.bring_up()
    run_steps(driver, [0, 2])
    assert [item.state for item in driver.state.steps.values()] == [StepState.COMPLETED, StepState.FAILED,
                                                                    StepState.CANCELLED]
    assert driver.state.state is ClusterState.WAITING


def test_terminate_cluster_on_failure_ends_the_cluster_with_step_failure():
    driver = Driver(core=1, steps=(step("a", ActionOnFailure.TERMINATE_CLUSTER), step("b")))
    driver.bring_up()
    run_steps(driver, [1])
    assert driver.state.state is ClusterState.TERMINATING and driver.state.reason.code == "STEP_FAILURE"
    assert list(driver.state.steps.values())[1].state is StepState.CANCELLED
    for command in driver.of(TerminateInstance):
        driver.send(InstanceStopped(command.instance_id))
    assert driver.state.state is ClusterState.TERMINATED_WITH_ERRORS


def test_termination_protection_keeps_the_cluster_through_a_step_failure_and_a_terminate():
    driver = Driver(core=1, protected=True, steps=(step("a", ActionOnFailure.TERMINATE_CLUSTER),))
    driver.bring_up()
    run_steps(driver, [1])
    assert driver.state.state is ClusterState.WAITING
    with pytest.raises(FailedPrecondition, match="termination protected"):
        driver.send(Terminate())
    driver.send(SetTerminationProtection(False))
    driver.send(Terminate())
    assert driver.state.state is ClusterState.TERMINATING and driver.state.reason.code == "USER_REQUEST"


def test_step_concurrency_runs_steps_side_by_side_and_refuses_other_actions():
    driver = Driver(core=1, concurrency=2)
    driver.bring_up()
    driver.send(AddSteps((step("a"), step("b"), step("c"))))
    assert len(driver.state.steps_in(StepState.RUNNING)) == 2
    with pytest.raises(InvalidArgument, match="StepConcurrencyLevel"):
        driver.send(AddSteps((step("d", ActionOnFailure.CANCEL_AND_WAIT),)))
    run_steps(driver, [0])
    assert len(driver.state.steps_in(StepState.RUNNING)) == 2
    run_steps(driver, [0, 0])
    assert driver.state.state is ClusterState.WAITING


def test_cancel_a_pending_and_a_running_step():
    driver = Driver(core=1)
    driver.bring_up()
    driver.send(AddSteps((step("a"), step("b"))))
    running, pending = driver.state.last_added_step_ids
    driver.send(CancelSteps((pending,)))
    assert driver.state.steps[pending].state is StepState.CANCELLED
    commands = driver.send(CancelSteps((running,)))
    assert CancelStep(running) in commands
    assert driver.state.steps[running].state is StepState.CANCEL_PENDING
    driver.send(StepExited(running, -15))
    assert driver.state.steps[running].state is StepState.CANCELLED
    with pytest.raises(NotFound):
        driver.send(CancelSteps(("s-NOSUCHSTEP000",)))


def test_a_step_whose_process_vanished_is_interrupted():
    driver = Driver(core=1, steps=(step("a"),))
    driver.bring_up()
    run_steps(driver, [None])
    assert list(driver.state.steps.values())[0].state is StepState.INTERRUPTED


def test_idle_auto_termination():
    driver = Driver(core=1, idle_timeout_s=60.0)
    driver.bring_up()
    driver.now_s += 30
    driver.send(Tick())
    assert driver.state.state is ClusterState.WAITING
    driver.now_s += 60
    driver.send(Tick())
    assert driver.state.state is ClusterState.TERMINATING


def test_steps_cannot_be_added_to_a_terminated_cluster():
    driver = Driver(core=1, keep_alive=False)
    driver.bring_up()
    with pytest.raises(FailedPrecondition, match="TERMINATING"):
        driver.send(AddSteps((step("late"),)))


# ---------------------------------------------------------------- failures and resizes


def test_a_failed_core_instance_is_replaced_with_a_new_id_and_node():
    driver = Driver(core=2)
    driver.bring_up()
    victim = driver.instances(Role.CORE)[0]
    commands = driver.send(InstanceFailed(victim.instance_id, InstanceReason.INSTANCE_FAILURE, "datanode exited"))
    assert TerminateInstance(victim.instance_id, victim.node_name) in commands
    replacement = [command for command in commands if isinstance(command, LaunchInstance)]
    assert len(replacement) == 1 and replacement[0].node_name == "core-3"
    assert replacement[0].instance_id != victim.instance_id
    assert victim.state is InstanceState.TERMINATED and victim.reason.code == "INSTANCE_FAILURE"
    assert driver.group(Role.CORE).state is InstanceGroupState.RESIZING
    driver.send(InstanceProvisioned(replacement[0].instance_id))
    driver.send(InstanceStarted(replacement[0].instance_id))
    assert driver.group(Role.CORE).state is InstanceGroupState.RUNNING


def test_a_failed_master_ends_the_cluster():
    driver = Driver(core=1)
    driver.bring_up()
    master = driver.instances(Role.MASTER)[0]
    driver.send(InstanceFailed(master.instance_id, InstanceReason.INSTANCE_FAILURE, "namenode exited"))
    assert driver.state.state is ClusterState.TERMINATING and driver.state.reason.code == "INSTANCE_FAILURE"


def test_resize_task_up_and_down_by_graceful_decommission():
    driver = Driver(core=1, task=1)
    driver.bring_up()
    task_group = driver.group(Role.TASK)
    launches = driver.send(ResizeGroup(task_group.instance_group_id, 3, 30.0))
    assert len([command for command in launches if isinstance(command, LaunchInstance)]) == 2
    assert task_group.state is InstanceGroupState.RESIZING
    for command in launches:
        driver.send(InstanceProvisioned(command.instance_id))
        driver.send(InstanceStarted(command.instance_id))
    assert task_group.state is InstanceGroupState.RUNNING
    commands = driver.send(ResizeGroup(task_group.instance_group_id, 0, 30.0))
    decommissions = [command for command in commands if isinstance(command, DecommissionInstance)]
    assert len(decommissions) == 3 and all(command.timeout_s == 30.0 for command in decommissions)
    for command in decommissions:
        driver.send(InstanceDecommissioned(command.instance_id))
    assert driver.instances(Role.TASK, InstanceState.RUNNING) == []
    assert task_group.state is InstanceGroupState.RUNNING and task_group.requested_instance_count == 0


def test_resize_refusals():
    driver = Driver(replication=2, core=3)
    driver.bring_up()
    core = driver.group(Role.CORE).instance_group_id
    with pytest.raises(FailedPrecondition, match="dfs.replication is 2"):
        driver.send(ResizeGroup(core, 1, 0.0))
    with pytest.raises(InvalidArgument, match="master"):
        driver.send(ResizeGroup(driver.group(Role.MASTER).instance_group_id, 2, 0.0))
    with pytest.raises(NotFound):
        driver.send(ResizeGroup("ig-NOSUCHGROUP00", 2, 0.0))
    with pytest.raises(InvalidArgument):
        driver.send(ResizeGroup(core, -1, 0.0))
    decommission = [command for command in driver.send(ResizeGroup(core, 2, 0.0))
                    if isinstance(command, DecommissionInstance)]
    assert len(decommission) == 1 and decommission[0].role is Role.CORE


# ---------------------------------------------------------------- restarts


def test_down_then_up_restarts_the_same_instances_master_first():
    driver = Driver(core=2)
    driver.bring_up()
    before = {instance.instance_id for instance in driver.state.instances.values()}
    commands = driver.send(StopCluster())
    assert all(not command.remove_data for command in commands if isinstance(command, TerminateInstance))
    assert commands[-1] == StopController()
    restarted = driver.replayed()
    launches = restarted.handle(StartCluster(), 100.0)
    assert [command.role for command in launches] == [Role.MASTER] and launches[0].restart
    others = restarted.handle(InstanceStarted(launches[0].instance_id), 101.0)
    assert {command.instance_id for command in others if isinstance(command, LaunchInstance)} == before - {
        launches[0].instance_id}
    final = []
    for command in others:
        final += restarted.handle(InstanceStarted(command.instance_id), 102.0)
    assert final == [WaitHealthy(first_start=False)]
    restarted.handle(ClusterHealthy(), 103.0)
    assert not restarted.stopped and restarted.state is ClusterState.WAITING
    restarted.validate_state()


def test_a_restarted_controller_adopts_running_instances_and_watches_running_steps():
    driver = Driver(core=1, steps=(step("a"),))
    driver.bring_up()
    running = driver.state.steps_in(StepState.RUNNING)[0]
    restarted = driver.replayed()
    assert restarted.handle(StartCluster(), 50.0) == [WatchStep(running.step_id)]
    restarted.handle(StepExited(running.step_id, 0), 51.0)
    assert restarted.steps[running.step_id].state is StepState.COMPLETED


def test_a_wrong_event_for_the_state_is_a_loud_bug():
    driver = Driver(core=1)
    driver.send(StartCluster())
    master = driver.instances(Role.MASTER)[0]
    with pytest.raises(InvalidTransition):
        driver.send(InstanceStarted(master.instance_id))  # not provisioned yet


def test_journal_on_disk_round_trips_and_cuts_a_torn_tail(tmp_path):
    driver = Driver(core=2, steps=(step("a"),))
    driver.bring_up()
    journal = Journal(tmp_path)
    journal.load(lambda edit: None)
    journal.append(driver.journal)
    journal.close()
    with open(tmp_path / "journal", "ab") as file:
        file.write(b"\x00\x00\x01\x00torn")
    replica = ControllerState(1)
    again = Journal(tmp_path)
    assert again.load(replica.apply) == len(driver.journal)
    again.close()
    assert snapshot(replica) == snapshot(driver.state)


# ---------------------------------------------------------------- replay under any sequence


class ControllerModel(RuleBasedStateMachine):
    """Random sequences of cluster events; the replayed journal always gives the same state."""

    @initialize(core=st.integers(1, 3), task=st.integers(0, 2), keep_alive=st.booleans(),
                concurrency=st.integers(1, 2))
    def start(self, core, task, keep_alive, concurrency):
        self.driver = Driver(core=core, task=task, keep_alive=keep_alive, concurrency=concurrency,
                             steps=(step("first"),))
        self.driver.bring_up()

    @rule(names=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3))
    def add_steps(self, names):
        try:
            self.driver.send(AddSteps(tuple(step(name) for name in names)))
        except FailedPrecondition:
            assert not self.driver.state.alive

    @precondition(lambda self: self.driver.state.steps_in(StepState.RUNNING, StepState.CANCEL_PENDING))
    @rule(exit_code=st.sampled_from([0, 0, 1, None]))
    def finish_a_step(self, exit_code):
        running = self.driver.state.steps_in(StepState.RUNNING, StepState.CANCEL_PENDING)[0]
        self.driver.send(StepExited(running.step_id, exit_code))

    @precondition(lambda self: self.driver.state.alive)
    @rule(data=st.data())
    def fail_a_worker(self, data):
        workers = [instance for instance in self.driver.state.instances.values()
                   if instance.role is not Role.MASTER and instance.state is InstanceState.RUNNING]
        if workers:
            victim = data.draw(st.sampled_from(workers))
            self.driver.send(InstanceFailed(victim.instance_id, InstanceReason.INSTANCE_FAILURE, "killed"))

    @precondition(lambda self: self.driver.state.state in (ClusterState.RUNNING, ClusterState.WAITING))
    @rule(count=st.integers(0, 3))
    def resize_task(self, count):
        group = self.driver.group(Role.TASK)
        if group is not None:
            self.driver.send(ResizeGroup(group.instance_group_id, count, 0.0))

    @rule()
    def the_shell_catches_up(self):
        """Every outstanding launch starts, every decommission ends, every stop completes."""
        state = self.driver.state
        for command in list(self.driver.commands):
            instance = state.instances.get(getattr(command, "instance_id", ""))
            if isinstance(command, LaunchInstance) and instance.state is InstanceState.PROVISIONING:
                self.driver.send(InstanceProvisioned(instance.instance_id))
            if isinstance(command, LaunchInstance) and instance.state is InstanceState.BOOTSTRAPPING:
                self.driver.send(InstanceStarted(instance.instance_id))
            if isinstance(command, DecommissionInstance) and instance.decommissioning:
                self.driver.send(InstanceDecommissioned(instance.instance_id))
            if isinstance(command, TerminateInstance):
                self.driver.send(InstanceStopped(instance.instance_id))
        self.driver.commands.clear()
        if state.state is ClusterState.BOOTSTRAPPING and not state.stopped:
            self.driver.send(ClusterHealthy())

    @precondition(lambda self: self.driver.state.alive)
    @rule()
    def terminate(self):
        self.driver.send(Terminate())

    @invariant()
    def replay_gives_the_same_state(self):
        replica = self.driver.replayed()
        assert snapshot(replica) == snapshot(self.driver.state)
        replica.validate_state()


TestControllerModel = ControllerModel.TestCase
TestControllerModel.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
