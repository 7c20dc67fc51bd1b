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
import logging

from emrlab.controller import market
from emrlab.controller.market import SPOT_TERMINATION, SpotSettings
from emrlab.controller.messages import (
    AddSteps,
    CancelStep,
    CancelSteps,
    ClusterCreated,
    ClusterHealthy,
    ClusterStateChanged,
    Command,
    DecommissionInstance,
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
    KillInstance,
    LaunchInstance,
    ProtectionChanged,
    ResizeGroup,
    SetTerminationProtection,
    SpotNotice,
    SpotNoticed,
    StartCluster,
    StartStep,
    StepAdded,
    StepChanged,
    StepExited,
    StopCluster,
    StopController,
    StoppedChanged,
    Terminate,
    TerminateInstance,
    Tick,
    WaitHealthy,
    WatchStep,
)
from emrlab.controller.records import (
    ALIVE_CLUSTER_STATES,
    CLUSTER_TRANSITIONS,
    FINISHED_STEP_STATES,
    INSTANCE_TRANSITIONS,
    STEP_TRANSITIONS,
    TERMINAL_CLUSTER_STATES,
    ActionOnFailure,
    ClusterEvent,
    ClusterReason,
    ClusterState,
    Instance,
    InstanceEvent,
    InstanceGroup,
    InstanceGroupState,
    InstanceReason,
    InstanceState,
    Market,
    Reason,
    Role,
    Step,
    StepEvent,
    StepState,
    derived_id,
)
from emrlab_common.errors import FailedPrecondition, InvalidArgument, NotFound
from emrlab_common.lifecycle import next_state

logger = logging.getLogger(__name__)

STEPS_MAX = 256                 # EMR keeps 256 active steps per cluster
INSTANCES_PER_GROUP_MAX = 64    # a laptop's worth; each instance is a few OS processes
EDITS_PENDING_MAX = 10_000      # the shell journals after every event; more means it stopped doing so


class ControllerState:
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
        self.stopped = False
        self.groups: dict[str, InstanceGroup] = {}
        self.instances: dict[str, Instance] = {}
        self.steps: dict[str, Step] = {}
        self.last_added_step_ids: list[str] = []
        # Not durable: instances whose daemons `cluster up` is starting again after `cluster down`.
        self.restarting: set[str] = set()
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
                self.bootstrap_actions, self.spot = edit.bootstrap_actions, edit.spot
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

    def _add_instance(self, group: InstanceGroup, now_s: float, from_market: bool = False) -> Instance:
        """A new instance; `from_market`: a spot replacement, which waits for capacity as the market decides."""
        launched = group.launched + 1
        node_name = "master" if group.role is Role.MASTER and launched == 1 else f"{group.role.value.lower()}-{launched}"
        instance_id = derived_id("ci-", self.cluster_id, group.instance_group_id, launched)
        fulfill_at_s = None
        if from_market and group.market is Market.SPOT:
            fulfill_at_s = now_s + market.fulfillment_delay_s(self.spot, self.market_key(group.instance_group_id),
                                                              launched)
        self._record(GroupChanged(group.instance_group_id, group.state, group.requested_instance_count, launched))
        self._record(InstanceAdded(instance_id, group.instance_group_id, node_name, now_s, launched, fulfill_at_s))
        return self.instances[instance_id]

    def _fulfillable(self, instance: Instance, now_s: float) -> bool:
        return instance.fulfill_at_s is None or instance.fulfill_at_s <= now_s

    def _add_steps(self, definitions, now_s: float) -> list[str]:
        if len(self.steps_in(StepState.PENDING, StepState.RUNNING)) + len(definitions) > STEPS_MAX:
            raise FailedPrecondition(f"a cluster has at most {STEPS_MAX} active steps")
        step_ids = []
        for definition in definitions:
            step_id = derived_id("s-", self.cluster_id, len(self.steps) + 1)
            self._record(StepAdded(step_id, definition, now_s))
            step_ids.append(step_id)
        return step_ids

    # ------------------------------------------------------------ events

    def handle(self, event: Event, now_s: float) -> list[Command]:
        match event:
            case StartCluster():
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
            case Tick():
                return self._tick(now_s)
            case _:
                raise AssertionError(f"unknown event {event!r}")

    # ------------------------------------------------------------ start and stop

    def _start(self, now_s: float) -> list[Command]:
        if not self.alive:
            return self._finish_termination(now_s) if self.state is ClusterState.TERMINATING else []
        commands: list[Command] = [WatchStep(step.step_id)
                                   for step in self.steps_in(StepState.RUNNING, StepState.CANCEL_PENDING)]
        master = self.master()
        if self.stopped:
            # After `cluster down`: the same instances, their disks kept, master first.
            self.restarting = {instance.instance_id for instance in self.instances.values()
                               if instance.state is not InstanceState.TERMINATED}
            return commands + ([self._launch(master, now_s, restart=master.state is InstanceState.RUNNING)]
                               if master else [])
        for instance in self.instances.values():
            if instance.state is InstanceState.TERMINATED:
                continue
            if instance.decommissioning:
                commands.append(self._decommission_command(instance, 0.0))
            elif instance.state is InstanceState.RUNNING:
                continue  # adopted: the shell watches its processes and reports their death
            elif instance is master or (master is not None and master.state is InstanceState.RUNNING
                                        and self._fulfillable(instance, now_s)):
                commands.append(self._launch(instance, now_s))
        return commands + self._check_ready(now_s)

    def _launch(self, instance: Instance, now_s: float, restart: bool = False) -> LaunchInstance:
        if instance.state is InstanceState.AWAITING_FULFILLMENT:
            self._change_instance(instance, InstanceEvent.FULFILLED, now_s)
        return LaunchInstance(instance.instance_id, instance.node_name, instance.role, instance.instance_type,
                              () if restart else self.bootstrap_actions, restart)

    def _stop(self, now_s: float) -> list[Command]:
        if not self.alive:
            return [StopController()]
        self._record(StoppedChanged(True, now_s))
        commands: list[Command] = []
        for step in self.steps_in(StepState.RUNNING, StepState.CANCEL_PENDING):
            commands.append(CancelStep(step.step_id))
        for instance in self.instances.values():
            if instance.state is not InstanceState.TERMINATED:
                commands.append(TerminateInstance(instance.instance_id, instance.node_name, remove_data=False))
        return commands + [StopController()]

    # ------------------------------------------------------------ instances

    def _change_instance(self, instance: Instance, event: InstanceEvent, now_s: float, reason: Reason = Reason(),
                         decommissioning: bool | None = None) -> None:
        state = next_state(INSTANCE_TRANSITIONS, instance.state, event, f"instance {instance.instance_id}",
                           reason.message)
        self._record(InstanceChanged(instance.instance_id, state, reason, now_s,
                                     instance.decommissioning if decommissioning is None else decommissioning))

    def _instance_event(self, instance_id: str, event: InstanceEvent, now_s: float) -> list[Command]:
        instance = self.instances[instance_id]
        if instance.state is InstanceState.TERMINATED:
            return []  # a late report from a launch the cluster no longer wants
        if instance.state is InstanceState.RUNNING and event is InstanceEvent.DAEMONS_STARTED:
            return self._restarted(instance, now_s)
        if instance.state is InstanceState.BOOTSTRAPPING and event is InstanceEvent.PROVISIONED:
            return []  # launched again after a controller crash: it was provisioned the first time
        self._change_instance(instance, event, now_s)
        if event is InstanceEvent.DAEMONS_STARTED and instance.instance_id in self.restarting:
            return self._restarted(instance, now_s)
        if event is InstanceEvent.PROVISIONED and self.state is ClusterState.STARTING:
            self._change_cluster(ClusterEvent.BOOTSTRAP_STARTED, Reason(), now_s)
        commands: list[Command] = []
        if instance.role is Role.MASTER and event is InstanceEvent.DAEMONS_STARTED:
            for other in self.instances.values():
                if other.state is InstanceState.AWAITING_FULFILLMENT and self._fulfillable(other, now_s):
                    commands.append(self._launch(other, now_s))
        self._refresh_groups()
        return commands + self._check_ready(now_s)

    def _restarted(self, instance: Instance, now_s: float) -> list[Command]:
        """One instance is back after `cluster down`; the master's return lets the others start."""
        self.restarting.discard(instance.instance_id)
        commands: list[Command] = []
        if instance.role is Role.MASTER:
            for other in self.instances.values():
                if other.instance_id in self.restarting:
                    commands.append(self._launch(other, now_s, restart=other.state is InstanceState.RUNNING))
        if not self.restarting:
            commands.append(WaitHealthy(first_start=False))
        return commands

    def _instance_failed(self, event: InstanceFailed, now_s: float) -> list[Command]:
        instance = self.instances[event.instance_id]
        if instance.state is InstanceState.TERMINATED or (self.stopped and self.alive):
            return []
        self._change_instance(instance, InstanceEvent.TERMINATE, now_s, Reason(event.code.value, event.message),
                              decommissioning=False)
        commands: list[Command] = [TerminateInstance(instance.instance_id, instance.node_name)]
        if not self.alive:
            return commands + self._finish_termination(now_s)
        if event.code is InstanceReason.BOOTSTRAP_FAILURE and self.ready_s is None:
            return commands + self._terminate(
                ClusterReason.BOOTSTRAP_FAILURE,
                f"On the {instance.role.value.lower()} instance ({instance.ec2_instance_id}), {event.message}", now_s,
                errors=True)
        if instance.role is Role.MASTER:
            return commands + self._terminate(ClusterReason.INSTANCE_FAILURE,
                                              f"The master node was terminated: {event.message}", now_s, errors=True)
        commands += self._replace_missing(self.groups[instance.instance_group_id], now_s)
        self._refresh_groups()
        return commands

    def _replace_missing(self, group: InstanceGroup, now_s: float, from_market: bool = False) -> list[Command]:
        """Launch instances until the group has its requested count again (after a failure or a resize)."""
        commands: list[Command] = []
        master = self.master()
        while len(self.live_instances(group.instance_group_id)) < group.requested_instance_count:
            instance = self._add_instance(group, now_s, from_market)
            if master is not None and master.state is InstanceState.RUNNING and self._fulfillable(instance, now_s):
                commands.append(self._launch(instance, now_s))
        return commands

    def _instance_decommissioned(self, instance_id: str, now_s: float) -> list[Command]:
        instance = self.instances[instance_id]
        if instance.state is InstanceState.TERMINATED:
            return []
        self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                              Reason("", "Instance group was resized: the instance was decommissioned"),
                              decommissioning=False)
        self._refresh_groups()
        return [TerminateInstance(instance.instance_id, instance.node_name)] + self._check_ready(now_s)

    def _instance_stopped(self, instance_id: str, now_s: float) -> list[Command]:
        instance = self.instances[instance_id]
        if self.state is ClusterState.TERMINATING and instance.state is not InstanceState.TERMINATED:
            self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                                  Reason("CLUSTER_TERMINATED", "Instance was terminated with the cluster"),
                                  decommissioning=False)
        return self._finish_termination(now_s) if self.state is ClusterState.TERMINATING else []

    def _refresh_groups(self) -> None:
        for group in self.groups.values():
            if group.state is InstanceGroupState.TERMINATED:
                continue
            instances = [instance for instance in self.group_instances(group.instance_group_id)
                         if instance.state is not InstanceState.TERMINATED]
            running = [instance for instance in instances if instance.state is InstanceState.RUNNING
                       and not instance.decommissioning]
            if self.state is ClusterState.TERMINATING:
                state = group.state
            elif self.ready_s is None and len(running) < group.requested_instance_count:
                bootstrapping = any(instance.state in (InstanceState.BOOTSTRAPPING, InstanceState.RUNNING)
                                    for instance in instances)
                state = InstanceGroupState.BOOTSTRAPPING if bootstrapping else InstanceGroupState.PROVISIONING
            elif len(running) == group.requested_instance_count and len(instances) == len(running):
                state = InstanceGroupState.RUNNING
            else:
                state = InstanceGroupState.RESIZING
            if state is not group.state:
                logger.info("instance group %s %s -> %s", group.instance_group_id, group.state.value, state.value)
                self._record(GroupChanged(group.instance_group_id, state, group.requested_instance_count,
                                          group.launched))

    # ------------------------------------------------------------ readiness and steps

    def _check_ready(self, now_s: float) -> list[Command]:
        """On first start: once every instance is up, wait for HDFS and YARN to see them."""
        if self.state is not ClusterState.BOOTSTRAPPING or self.stopped:
            return []
        instances = [instance for instance in self.instances.values() if instance.state is not InstanceState.TERMINATED]
        if instances and all(instance.state is InstanceState.RUNNING for instance in instances):
            return [WaitHealthy(first_start=True)]
        return []

    def _cluster_healthy(self, now_s: float) -> list[Command]:
        if self.stopped and not self.restarting:
            self._record(StoppedChanged(False, now_s))
            return self._schedule_steps(now_s)
        if self.state is not ClusterState.BOOTSTRAPPING:
            return []
        self._change_cluster(ClusterEvent.READY, Reason(), now_s)
        self._refresh_groups()
        return self._schedule_steps(now_s)

    def _add_steps_request(self, definitions, now_s: float) -> list[Command]:
        if not self.alive:
            raise FailedPrecondition(f"{self.cluster_id} is {self.state.value}: steps cannot be added")
        if self.step_concurrency_level > 1:
            for definition in definitions:
                if definition.action_on_failure is not ActionOnFailure.CONTINUE:
                    raise InvalidArgument(
                        f"ActionOnFailure {definition.action_on_failure.value} is not valid when StepConcurrencyLevel "
                        f"is {self.step_concurrency_level}: only CONTINUE")
        self.last_added_step_ids = self._add_steps(definitions, now_s)
        return self._schedule_steps(now_s)

    def _schedule_steps(self, now_s: float) -> list[Command]:
        if self.state not in (ClusterState.RUNNING, ClusterState.WAITING) or self.stopped:
            return []
        commands: list[Command] = []
        running = len(self.steps_in(StepState.RUNNING, StepState.CANCEL_PENDING))
        for step in self.steps_in(StepState.PENDING):
            if running >= self.step_concurrency_level:
                break
            self._change_step(step, StepEvent.START, now_s)
            commands.append(StartStep(step.step_id, step.definition.args))
            running += 1
        if running and self.state is ClusterState.WAITING:
            self._change_cluster(ClusterEvent.STEP_STARTED, Reason(), now_s)
            self._record(IdleSince(None))
        if not running:
            if not self.keep_alive:
                return commands + self._terminate(ClusterReason.ALL_STEPS_COMPLETED, "Steps completed", now_s)
            if self.state is ClusterState.RUNNING:
                self._change_cluster(ClusterEvent.STEPS_DONE, Reason(), now_s)
            if self.idle_since_s is None:
                self._record(IdleSince(now_s))
        return commands

    def _change_step(self, step: Step, event: StepEvent, now_s: float, reason: Reason = Reason(),
                     exit_code: int | None = None) -> None:
        state = next_state(STEP_TRANSITIONS, step.state, event, f"step {step.step_id}", reason.message)
        self._record(StepChanged(step.step_id, state, reason, now_s, exit_code))

    def _cancel_steps(self, step_ids, now_s: float) -> list[Command]:
        unknown = [step_id for step_id in step_ids if step_id not in self.steps]
        if unknown:
            raise NotFound(f"no step {unknown[0]} in {self.cluster_id}")
        commands: list[Command] = []
        for step_id in step_ids:
            step = self.steps[step_id]
            if step.state is StepState.PENDING:
                self._change_step(step, StepEvent.CANCEL, now_s, Reason("", "Cancelled by user request"))
            elif step.state is StepState.RUNNING:
                self._change_step(step, StepEvent.CANCEL_RUNNING, now_s, Reason("", "Cancel requested by user"))
                commands.append(CancelStep(step_id))
        return commands + self._schedule_steps(now_s)

    def _step_exited(self, event: StepExited, now_s: float) -> list[Command]:
        step = self.steps[event.step_id]
        if step.state not in (StepState.RUNNING, StepState.CANCEL_PENDING):
            return []
        if event.exit_code == 0:
            self._change_step(step, StepEvent.EXITED_OK, now_s, exit_code=0)
        elif event.exit_code is None:
            self._change_step(step, StepEvent.LOST, now_s, Reason("", "The step's process was lost"))
        else:
            self._change_step(step, StepEvent.EXITED_FAILED, now_s,
                              Reason("", f"Step failed with exitCode {event.exit_code}"), event.exit_code)
        commands: list[Command] = []
        if step.state in (StepState.FAILED, StepState.INTERRUPTED) and self.alive:
            action = step.definition.action_on_failure
            if action is ActionOnFailure.CANCEL_AND_WAIT:
                for pending in self.steps_in(StepState.PENDING):
                    self._change_step(pending, StepEvent.CANCEL, now_s,
                                      Reason("", f"Cancelled because step {step.step_id} failed (CANCEL_AND_WAIT)"))
            elif action in (ActionOnFailure.TERMINATE_CLUSTER, ActionOnFailure.TERMINATE_JOB_FLOW):
                if not self.termination_protected:  # protection keeps a cluster through step errors, as EMR's does
                    return self._terminate(ClusterReason.STEP_FAILURE, "Shut down as step failed", now_s, errors=True)
        if self.state is ClusterState.TERMINATING:
            return commands + self._finish_termination(now_s)
        return commands + self._schedule_steps(now_s)

    # ------------------------------------------------------------ resize

    def _resize(self, event: ResizeGroup, now_s: float) -> list[Command]:
        group = self.groups.get(event.instance_group_id)
        if group is None:
            raise NotFound(f"no instance group {event.instance_group_id} in {self.cluster_id}")
        if self.state not in (ClusterState.RUNNING, ClusterState.WAITING):
            raise FailedPrecondition(f"{self.cluster_id} is {self.state.value}: resize a RUNNING or WAITING cluster")
        if group.role is Role.MASTER:
            raise InvalidArgument("the master instance group cannot be resized")
        if not 0 <= event.count <= INSTANCES_PER_GROUP_MAX:
            raise InvalidArgument(f"--count must be between 0 and {INSTANCES_PER_GROUP_MAX}")
        needed = max(1, self.replication)
        if group.role is Role.CORE and event.count < needed:
            raise FailedPrecondition(
                f"cannot shrink the core group to {event.count}: dfs.replication is {self.replication}, so HDFS needs "
                f"at least {needed} core node(s) (EMR refuses this too)")
        self._record(GroupChanged(group.instance_group_id, group.state, event.count, group.launched))
        live = self.live_instances(group.instance_group_id)
        commands: list[Command] = []
        if len(live) > event.count:
            # Shrink the youngest first (least work under way); not-yet-running ones simply go.
            victims = sorted(live, key=lambda instance: (instance.state is InstanceState.RUNNING, instance.created_s,
                                                         instance.node_name), reverse=False)
            for instance in victims[:len(live) - event.count]:
                if instance.state is InstanceState.RUNNING:
                    self._record(InstanceChanged(instance.instance_id, instance.state, instance.reason, now_s, True))
                    commands.append(self._decommission_command(instance, event.decommission_timeout_s))
                else:
                    self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                                          Reason("", "Instance group was resized"))
                    commands.append(TerminateInstance(instance.instance_id, instance.node_name))
        else:
            commands += self._replace_missing(group, now_s)
        self._refresh_groups()
        return commands

    def _decommission_command(self, instance: Instance, timeout_s: float) -> DecommissionInstance:
        return DecommissionInstance(instance.instance_id, instance.node_name, instance.role, timeout_s)

    # ------------------------------------------------------------ termination

    def _change_cluster(self, event: ClusterEvent, reason: Reason, now_s: float) -> None:
        state = next_state(CLUSTER_TRANSITIONS, self.state, event, f"cluster {self.cluster_id}", reason.message)
        self._record(ClusterStateChanged(state, reason, now_s))

    def _terminate(self, code: ClusterReason, message: str, now_s: float, errors: bool = False) -> list[Command]:
        event = ClusterEvent.TERMINATE_WITH_ERRORS if errors else ClusterEvent.TERMINATE
        self._change_cluster(event, Reason(code.value, message), now_s)
        commands: list[Command] = []
        for step in self.steps_in(StepState.PENDING):
            self._change_step(step, StepEvent.CANCEL, now_s, Reason("", "Cancelled: the cluster is terminating"))
        for step in self.steps_in(StepState.RUNNING):
            self._change_step(step, StepEvent.CANCEL_RUNNING, now_s, Reason("", "Cluster is terminating"))
            commands.append(CancelStep(step.step_id))
        for instance in self.instances.values():
            if instance.state is not InstanceState.TERMINATED:
                commands.append(TerminateInstance(instance.instance_id, instance.node_name))
        return commands + self._finish_termination(now_s)

    def _finish_termination(self, now_s: float) -> list[Command]:
        """TERMINATING ends once no step runs and every instance has stopped."""
        if self.state is not ClusterState.TERMINATING:
            return []
        if self.steps_in(StepState.CANCEL_PENDING, StepState.RUNNING):
            return []
        if any(instance.state is not InstanceState.TERMINATED for instance in self.instances.values()):
            return []
        errors = self.reason.code not in (ClusterReason.USER_REQUEST.value, ClusterReason.ALL_STEPS_COMPLETED.value)
        final = ClusterState.TERMINATED_WITH_ERRORS if errors else ClusterState.TERMINATED
        logger.info("cluster %s TERMINATING -> %s (%s)", self.cluster_id, final.value, self.reason.message)
        self._record(ClusterStateChanged(final, self.reason, now_s))
        for group in self.groups.values():
            self._record(GroupChanged(group.instance_group_id, InstanceGroupState.TERMINATED,
                                      group.requested_instance_count, group.launched))
        return [StopController()]

    def _tick(self, now_s: float) -> list[Command]:
        commands = self._run_market(now_s) if self.alive and not self.stopped else []
        return commands + self._idle_check(now_s)

    def _idle_check(self, now_s: float) -> list[Command]:
        if (self.state is ClusterState.WAITING and self.idle_timeout_s is not None and self.idle_since_s is not None
                and not self.stopped and now_s - self.idle_since_s >= self.idle_timeout_s):
            return self._terminate(ClusterReason.ALL_STEPS_COMPLETED,
                                   f"Auto-terminated after {self.idle_timeout_s:.0f}s idle (AutoTerminationPolicy)",
                                   now_s)
        return []

    # ------------------------------------------------------------ the spot market

    def interruption_due_s(self, instance: Instance) -> float | None:
        """When the market's seeded schedule sends this spot instance its notice (None: never)."""
        if instance.market is not Market.SPOT or instance.ready_s is None:
            return None
        delay = market.interruption_delay_s(self.spot, self.market_key(instance.instance_group_id),
                                            instance.launch_number)
        return None if delay is None else instance.ready_s + delay

    def market_key(self, group_id: str) -> str:
        """What the market's draws know a group by: its role and place in the definition, the same in every
        cluster made from it (its ig- id is derived from the cluster id, so another run's would differ)."""
        return f"{self.groups[group_id].role.value}-{list(self.groups).index(group_id)}"

    def _run_market(self, now_s: float) -> list[Command]:
        commands: list[Command] = []
        master = self.master()
        for instance in list(self.instances.values()):
            if instance.state is InstanceState.AWAITING_FULFILLMENT and instance.fulfill_at_s is not None:
                if instance.fulfill_at_s <= now_s and master is not None and master.state is InstanceState.RUNNING:
                    commands.append(self._launch(instance, now_s))
            elif instance.state is InstanceState.RUNNING and instance.notice_s is None and not instance.decommissioning:
                due_s = self.interruption_due_s(instance)
                if due_s is not None and due_s <= now_s:
                    commands += self._notice(instance, now_s, "the market's seeded schedule")
            elif instance.notice_s is not None and instance.state is not InstanceState.TERMINATED:
                if now_s >= instance.notice_s + self.spot.notice_s:
                    commands += self._kill(instance, now_s)
        return commands

    def _notice(self, instance: Instance, now_s: float, cause: str) -> list[Command]:
        logger.info("spot: %s (%s) gets its interruption notice (%s); killed at +%.0fs", instance.instance_id,
                    instance.node_name, cause, self.spot.notice_s)
        self._record(SpotNoticed(instance.instance_id, now_s))
        return [SpotNotice(instance.instance_id, instance.node_name, instance.role, now_s,
                           now_s + self.spot.notice_s)]

    def _kill(self, instance: Instance, now_s: float) -> list[Command]:
        logger.info("spot: %s (%s) interrupted: every process killed", instance.instance_id, instance.node_name)
        self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                              Reason(InstanceReason.INSTANCE_FAILURE.value,
                                     f"{SPOT_TERMINATION}: Spot instance termination (EC2 took the capacity back)"),
                              decommissioning=False)
        commands: list[Command] = [KillInstance(instance.instance_id, instance.node_name)]
        if instance.role is Role.MASTER:
            return commands + self._terminate(ClusterReason.INSTANCE_FAILURE,
                                              "The master node was interrupted by EC2 (spot)", now_s, errors=True)
        commands += self._replace_missing(self.groups[instance.instance_group_id], now_s, from_market=True)
        self._refresh_groups()
        return commands

    def _interrupt_request(self, event: InterruptInstances, now_s: float) -> list[Command]:
        if not self.alive:
            raise FailedPrecondition(f"{self.cluster_id} is {self.state.value}")
        targets: list[Instance] = []
        for instance_id in event.instance_ids:
            instance = self.instances.get(instance_id) or next(
                (item for item in self.instances.values() if item.node_name == instance_id
                 and item.state is not InstanceState.TERMINATED), None)
            if instance is None:
                raise NotFound(f"no instance {instance_id} in {self.cluster_id} (`emrlab cluster list-instances`)")
            if instance.market is not Market.SPOT:
                raise FailedPrecondition(f"{instance.instance_id} ({instance.node_name}) is ON_DEMAND: only spot "
                                         "instances are interrupted")
            if instance.state is not InstanceState.RUNNING or instance.notice_s is not None:
                raise FailedPrecondition(f"{instance.instance_id} ({instance.node_name}) is {instance.state.value}"
                                         + (" and already has its notice" if instance.notice_s is not None else ""))
            targets.append(instance)
        if event.instance_group_id:
            group = self.groups.get(event.instance_group_id)
            if group is None:
                raise NotFound(f"no instance group {event.instance_group_id} in {self.cluster_id}")
            if group.market is not Market.SPOT:
                raise FailedPrecondition(f"the {group.role.value} group is ON_DEMAND: only spot instances are "
                                         "interrupted (put it on spot with Market SPOT or --task-market spot)")
            candidates = {instance.node_name: instance for instance in self.group_instances(group.instance_group_id,
                                                                                             (InstanceState.RUNNING,))
                          if instance.notice_s is None and not instance.decommissioning}
            if event.count > len(candidates):
                raise FailedPrecondition(f"only {len(candidates)} running spot instance(s) in {group.instance_group_id}"
                                         f" can be interrupted, not {event.count}")
            noticed = sum(instance.notice_s is not None for instance in self.instances.values())
            # By node name (the group's n-th instance), not by id: the same seed picks the same in every cluster.
            targets += [candidates[name] for name in market.choose(self.spot, list(candidates), event.count, noticed)]
        commands: list[Command] = []
        for instance in targets:
            commands += self._notice(instance, now_s, "on command")
        return commands

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
