"""The cluster controller's state: EMR's control plane as a pure state machine.

    state = ControllerState()
    state.create(definition, "j-…", now_s)            # edits only: the cluster as asked for
    commands = state.handle(StartCluster(), now_s)     # -> [LaunchInstance(master)]
    commands = state.handle(InstanceStarted(…), now_s)
    edits = state.take_edits()                         # journal these before acting or answering

No gRPC, no threads, no clock, no files: events and the time go in, commands
come out (records.py). Every change goes through `apply(edit)`, which is also
what replays the journal at start, so a restarted controller has, by
construction, what it had.

Where things live: this file holds the records, the lookups, `apply(edit)`
and `handle(event)`, which hands each event to one of the parts
`ControllerState` is made of: lifecycle.py (the cluster's start, stop,
termination and tick), instances.py (launches, failures, replacements,
restarts), steps.py (the step lifecycle), capacity.py (resizes, managed
scaling) and spotrules.py (the spot market's notices and kills).

Durable (in the journal): the cluster definition, every group, instance and
step with its state and reason. Rebuilt at start: which processes are alive
(the shell looks, and reports what it finds as events).

What it decides, as EMR does:
- the master instance first, then core and task instances; the cluster is
  RUNNING once HDFS and YARN see every instance, WAITING when no step runs;
- steps in order, up to StepConcurrencyLevel at once; a failed step's
  ActionOnFailure (CONTINUE, CANCEL_AND_WAIT, TERMINATE_CLUSTER);
- a transient cluster (KeepJobFlowAliveWhenNoSteps false) ends when its
  steps are done; an idle one ends after AutoTerminationPolicy.IdleTimeout;
- a failed core or task instance is replaced so its group keeps its
  requested count; a failed master, or a failed bootstrap action on first
  start, ends the cluster with errors;
- resizes: new instances to grow, graceful decommission to shrink, never
  below what HDFS needs (dfs.replication core nodes).
"""

from __future__ import annotations

import dataclasses

from emrlab.controller.capacity import CapacityRules
from emrlab.controller.instances import InstanceRules
from emrlab.controller.lifecycle import ClusterLifecycle
from emrlab.controller.market import SpotSettings
from emrlab.controller.messages import (
    AddSteps,
    CancelSteps,
    ClusterCreated,
    ClusterHealthy,
    ClusterStateChanged,
    Command,
    Event,
    GroupChanged,
    IdleSince,
    InstanceAdded,
    InstanceChanged,
    InstanceDecommissioned,
    InstanceFailed,
    InstanceProvisioned,
    InstanceStarted,
    InstanceStopped,
    InterruptInstances,
    ProtectionChanged,
    PutScalingPolicy,
    ResizeGroup,
    ScalingPolicyChanged,
    SetTerminationProtection,
    SpotNoticed,
    StartCluster,
    StepAdded,
    StepChanged,
    StepExited,
    StopCluster,
    StoppedChanged,
    Terminate,
    Tick,
    YarnLoad,
)
from emrlab.controller.records import (
    ALIVE_CLUSTER_STATES,
    FINISHED_STEP_STATES,
    TERMINAL_CLUSTER_STATES,
    ClusterReason,
    ClusterState,
    Instance,
    InstanceEvent,
    InstanceGroup,
    InstanceState,
    ManagedScalingPolicy,
    Reason,
    Role,
    Step,
    StepState,
)
from emrlab.controller.spotrules import MarketRules
from emrlab.controller.steps import StepRules
from emrlab_common.errors import FailedPrecondition

EDITS_PENDING_MAX = 10_000      # the shell journals after every event; more means it stopped doing so


class ControllerState(ClusterLifecycle, InstanceRules, StepRules, CapacityRules, MarketRules):
    """The cluster's records, the edits that change them, and the events it handles. What it does on each
    event is in its parts: the cluster's lifecycle (lifecycle.py), instances (instances.py), steps (steps.py),
    capacity (capacity.py) and the spot market (spotrules.py)."""

    def __init__(self, replication: int = 1):
        self.replication = replication  # dfs.replication: core nodes HDFS needs
        self.cluster_id = ""
        self.name = ""
        self.state = ClusterState.STARTING
        self.reason = Reason()
        self.created_s = 0.0
        self.ready_s: float | None = None
        self.ended_s: float | None = None
        self.keep_alive = True
        self.termination_protected = False
        self.step_concurrency_level = 1
        self.idle_timeout_s: float | None = None
        self.idle_since_s: float | None = None
        self.bootstrap_actions = ()
        self.spot = SpotSettings()
        self.scaling: ManagedScalingPolicy | None = None
        self.stopped = False
        self.groups: dict[str, InstanceGroup] = {}
        self.instances: dict[str, Instance] = {}
        self.steps: dict[str, Step] = {}
        self.last_added_step_ids: list[str] = []
        # Not durable: instances whose daemons `cluster up` is starting again after `cluster down`.
        self.restarting: set[str] = set()
        self.idle_since: dict[str, float] = {}   # not durable: task nodes with no container, since when
        self.last_scaling_s = float("-inf")
        self._edits: list = []

    # ------------------------------------------------------------ lookups

    def group_of_role(self, role: Role) -> InstanceGroup | None:
        return next((group for group in self.groups.values() if group.role is role), None)

    def group_instances(self, group_id: str, states=None) -> list[Instance]:
        return [instance for instance in self.instances.values() if instance.instance_group_id == group_id
                and (states is None or instance.state in states)]

    def live_instances(self, group_id: str) -> list[Instance]:
        """Instances that count towards the group's requested count (not terminated, not on their way out)."""
        return [instance for instance in self.group_instances(group_id)
                if instance.state is not InstanceState.TERMINATED and not instance.decommissioning]

    def master(self) -> Instance | None:
        group = self.group_of_role(Role.MASTER)
        running = self.group_instances(group.instance_group_id) if group else []
        return next((instance for instance in running if instance.state is not InstanceState.TERMINATED), None)

    def steps_in(self, *states: StepState) -> list[Step]:
        return [step for step in self.steps.values() if step.state in states]

    @property
    def alive(self) -> bool:
        return self.state in ALIVE_CLUSTER_STATES

    # ------------------------------------------------------------ edits

    def take_edits(self) -> list:
        edits, self._edits = self._edits, []
        return edits

    def _record(self, edit) -> None:
        assert len(self._edits) < EDITS_PENDING_MAX, "edits are not being journaled"
        self.apply(edit)
        self._edits.append(edit)

    def apply(self, edit) -> None:
        """Carry out one edit; the same code replays the journal."""
        match edit:
            case ClusterCreated():
                self.cluster_id, self.name, self.created_s = edit.cluster_id, edit.name, edit.time_s
                self.keep_alive, self.termination_protected = edit.keep_alive, edit.termination_protected
                self.step_concurrency_level, self.idle_timeout_s = edit.step_concurrency_level, edit.idle_timeout_s
                self.bootstrap_actions, self.spot, self.scaling = edit.bootstrap_actions, edit.spot, edit.scaling
                for group_id, definition in zip(edit.group_ids, edit.groups, strict=True):
                    self.groups[group_id] = InstanceGroup(group_id, definition.name, definition.role,
                                                          definition.instance_type, definition.market,
                                                          definition.count)
            case ClusterStateChanged():
                self.state, self.reason = edit.state, edit.reason
                if edit.state is ClusterState.RUNNING and self.ready_s is None:
                    self.ready_s = edit.time_s
                if edit.state in TERMINAL_CLUSTER_STATES:
                    self.ended_s = edit.time_s
            case GroupChanged():
                group = self.groups[edit.instance_group_id]
                group.state, group.requested_instance_count = edit.state, edit.requested_instance_count
                group.launched = edit.launched
            case InstanceAdded():
                group = self.groups[edit.instance_group_id]
                self.instances[edit.instance_id] = Instance(edit.instance_id, group.instance_group_id, group.role,
                                                            edit.node_name, group.instance_type, group.market,
                                                            launch_number=edit.launch_number,
                                                            created_s=edit.time_s, fulfill_at_s=edit.fulfill_at_s)
            case InstanceChanged():
                instance = self.instances[edit.instance_id]
                instance.state, instance.reason = edit.state, edit.reason
                instance.decommissioning = edit.decommissioning
                if edit.state is InstanceState.PROVISIONING:
                    instance.launched_s = edit.time_s
                if edit.state is InstanceState.RUNNING and instance.ready_s is None:
                    instance.ready_s = edit.time_s
                if edit.state is InstanceState.TERMINATED:
                    instance.ended_s = edit.time_s
            case StepAdded():
                self.steps[edit.step_id] = Step(edit.step_id, edit.definition, created_s=edit.time_s)
            case StepChanged():
                step = self.steps[edit.step_id]
                step.state, step.reason, step.exit_code = edit.state, edit.reason, edit.exit_code
                if edit.state is StepState.RUNNING:
                    step.started_s = edit.time_s
                if edit.state in FINISHED_STEP_STATES:
                    step.ended_s = edit.time_s
            case ProtectionChanged():
                self.termination_protected = edit.protected
            case StoppedChanged():
                self.stopped = edit.stopped
            case IdleSince():
                self.idle_since_s = edit.time_s
            case SpotNoticed():
                self.instances[edit.instance_id].notice_s = edit.time_s
            case ScalingPolicyChanged():
                self.scaling = edit.policy
            case _:
                raise AssertionError(f"unknown edit {edit!r}")

    # ------------------------------------------------------------ creation

    def create(self, created: ClusterCreated, steps, now_s: float) -> None:
        """The cluster as its definition asks: groups and their first instances, steps pending."""
        assert not self.cluster_id, "a controller state holds one cluster"
        self._record(created)
        for group in self.groups.values():
            for _ in range(group.requested_instance_count):
                self._add_instance(group, now_s)
        self._add_steps(steps, now_s)

    # ------------------------------------------------------------ events

    def handle(self, event: Event, now_s: float) -> list[Command]:
        match event:
            case StartCluster(processes_gone):
                if processes_gone and self.alive and self.ready_s is not None and not self.stopped:
                    # The controller died and `cluster down` stopped the rest: back as after a down, not as failures.
                    self._record(StoppedChanged(True, now_s))
                return self._start(now_s)
            case InstanceProvisioned(instance_id):
                return self._instance_event(instance_id, InstanceEvent.PROVISIONED, now_s)
            case InstanceStarted(instance_id):
                return self._instance_event(instance_id, InstanceEvent.DAEMONS_STARTED, now_s)
            case InstanceFailed():
                return self._instance_failed(event, now_s)
            case InstanceDecommissioned(instance_id):
                return self._instance_decommissioned(instance_id, now_s)
            case InstanceStopped(instance_id):
                return self._instance_stopped(instance_id, now_s)
            case ClusterHealthy():
                return self._cluster_healthy(now_s)
            case AddSteps(definitions):
                return self._add_steps_request(definitions, now_s)
            case CancelSteps(step_ids):
                return self._cancel_steps(step_ids, now_s)
            case StepExited():
                return self._step_exited(event, now_s)
            case ResizeGroup():
                return self._resize(event, now_s)
            case SetTerminationProtection(protected):
                if protected != self.termination_protected:
                    self._record(ProtectionChanged(protected))
                return []
            case Terminate():
                if self.termination_protected:
                    raise FailedPrecondition(
                        f"{self.cluster_id} is termination protected: run `emrlab cluster modify "
                        "--termination-protected false` first")
                if not self.alive:
                    return []
                return self._terminate(ClusterReason.USER_REQUEST, "Terminated by user request", now_s)
            case StopCluster():
                return self._stop(now_s)
            case InterruptInstances():
                return self._interrupt_request(event, now_s)
            case PutScalingPolicy():
                return self._put_scaling_policy(event, now_s)
            case YarnLoad():
                return self._scale(event, now_s)
            case Tick():
                return self._tick(now_s)
            case _:
                raise AssertionError(f"unknown event {event!r}")

    # ------------------------------------------------------------ checks

    def validate_state(self) -> None:
        for group in self.groups.values():
            live = self.live_instances(group.instance_group_id)
            if self.alive and self.ready_s is not None and not self.stopped:
                assert len(live) == group.requested_instance_count or group.role is Role.MASTER, \
                    f"{group.instance_group_id} has {len(live)} live of {group.requested_instance_count}"
        running_steps = self.steps_in(StepState.RUNNING, StepState.CANCEL_PENDING)
        assert len(running_steps) <= self.step_concurrency_level, "more steps run than StepConcurrencyLevel"
        if self.state in TERMINAL_CLUSTER_STATES:
            assert all(instance.state is InstanceState.TERMINATED for instance in self.instances.values())
            assert not running_steps and not self.steps_in(StepState.PENDING)
        for instance in self.instances.values():
            assert instance.instance_group_id in self.groups
            assert not (instance.decommissioning and instance.state is InstanceState.TERMINATED)


def snapshot(state: ControllerState) -> dict:
    """A plain view of the durable state, for tests comparing a replay with the original."""
    return {
        "cluster": (state.cluster_id, state.state, state.reason, state.termination_protected, state.stopped),
        "groups": {key: dataclasses.asdict(group) for key, group in state.groups.items()},
        "instances": {key: dataclasses.asdict(instance) for key, instance in state.instances.items()},
        "steps": {key: dataclasses.asdict(step) for key, step in state.steps.items()},
    }
