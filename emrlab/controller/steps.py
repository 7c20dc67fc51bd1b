"""The controller's rules for steps: EMR's step lifecycle, ActionOnFailure, StepConcurrencyLevel.

A part of `ControllerState` (state.py), in its own file so each reads in one sitting: steps run in
order once the cluster is up, up to StepConcurrencyLevel at once; a failed step's ActionOnFailure
decides what happens to the rest; a transient cluster ends when none is left.
"""

from __future__ import annotations

import logging

from emrlab.controller.messages import (
    CancelStep,
    Command,
    IdleSince,
    StartStep,
    StepAdded,
    StepChanged,
    StepExited,
    StoppedChanged,
    WaitHealthy,
)
from emrlab.controller.records import (
    STEP_TRANSITIONS,
    ActionOnFailure,
    ClusterEvent,
    ClusterReason,
    ClusterState,
    InstanceState,
    Reason,
    Step,
    StepEvent,
    StepState,
    derived_id,
)
from emrlab_common.errors import FailedPrecondition, InvalidArgument, NotFound
from emrlab_common.lifecycle import next_state

logger = logging.getLogger(__name__)

STEPS_MAX = 256  # EMR keeps 256 active steps per cluster


class StepRules:
    def _add_steps(self, definitions, now_s: float) -> list[str]:
        if len(self.steps_in(StepState.PENDING, StepState.RUNNING)) + len(definitions) > STEPS_MAX:
            raise FailedPrecondition(f"a cluster has at most {STEPS_MAX} active steps")
        step_ids = []
        for definition in definitions:
            step_id = derived_id("s-", self.cluster_id, len(self.steps) + 1)
            self._record(StepAdded(step_id, definition, now_s))
            step_ids.append(step_id)
        return step_ids

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
