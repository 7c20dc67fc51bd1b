"""The cluster's own lifecycle: start, stop (`cluster down`), termination, and the tick.

A part of `ControllerState` (state.py), beside its rules for instances (instances.py), steps
(steps.py), capacity (capacity.py) and the spot market (spotrules.py). The cluster moves
through CLUSTER_TRANSITIONS (records.py): STARTING, BOOTSTRAPPING, RUNNING, WAITING, then
TERMINATING and TERMINATED (or TERMINATED_WITH_ERRORS). Here: what a (re)start launches, what
`cluster down` stops while keeping the disks, what terminating cancels and stops, when
TERMINATING is over, and what each tick does (the spot market, the idle timeout of
AutoTerminationPolicy).
"""

from __future__ import annotations

import logging

from emrlab.controller.messages import (
    CancelStep,
    ClusterStateChanged,
    Command,
    GroupChanged,
    StopController,
    StoppedChanged,
    TerminateInstance,
    WatchStep,
)
from emrlab.controller.records import (
    CLUSTER_TRANSITIONS,
    ClusterEvent,
    ClusterReason,
    ClusterState,
    InstanceGroupState,
    InstanceState,
    Reason,
    StepEvent,
    StepState,
)
from emrlab_common.lifecycle import next_state

logger = logging.getLogger(__name__)


class ClusterLifecycle:
    """Start, stop and termination of the whole cluster, for `ControllerState`."""

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

    def _stop(self, now_s: float) -> list[Command]:
        if not self.alive:
            return [StopController()]
        self._record(StoppedChanged(True, now_s))
        commands: list[Command] = []
        for step in self.steps_in(StepState.RUNNING, StepState.CANCEL_PENDING):
            # Stopped, not failed: no ActionOnFailure (TERMINATE_CLUSTER would end the cluster for good).
            self._change_step(step, StepEvent.LOST, now_s, Reason("", "Interrupted: the cluster was stopped "
                                                                      "(`emrlab cluster down`)"))
            commands.append(CancelStep(step.step_id))
        for instance in self.instances.values():
            if instance.state is not InstanceState.TERMINATED:
                commands.append(TerminateInstance(instance.instance_id, instance.node_name, remove_data=False))
        return commands + [StopController()]

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
