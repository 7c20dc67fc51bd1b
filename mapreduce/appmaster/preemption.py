"""What the job state machine does when nodes go away: spot interruptions, graceful decommission, lost nodes.

Part of `JobStateMachine` (job.py), kept apart so that the lesson reads in one
place, as Hadoop's JobImpl and TaskAttemptImpl do it:
- a node LOST (or DECOMMISSIONED, UNHEALTHY): its running attempts are KILLED,
  never FAILED, and run again elsewhere without using up `maxattempts`;
- a node DECOMMISSIONING (its notice): its running maps move elsewhere at once;
  its reducers carry on (they may finish in time); its finished maps' output
  is about to vanish, so the first fetch failure there runs the map again;
- a finished map whose output went with its node runs again only while a
  reducer still has to copy it (one not past its copy phase); otherwise it is
  marked, and a reduce attempt started later runs it again first;
- reducers that cannot fetch a map's output report it: three reports (from a
  node that answers) fail the map as Hadoop does; from a node that does not
  answer at all, the map is KILLED and runs again.
Reducers hear of it all through map completion events: OBSOLETE for the lost
output, then SUCCEEDED with the re-run's address.

`ReducerPreemption` is the other way an attempt gets preempted, by the AM
itself (Hadoop's RMContainerAllocator.preemptReducesIfNeeded): reducers that
hold the containers maps need (slow start, or a lost node's maps running
again) wait for those maps for good, so the job would hang. When a map has
waited for a container longer than `mapreduce.job.reducer.preempt.delay.sec`
while YARN's headroom fits no map and no map runs, or longer than
`mapreduce.job.reducer.unconditional-preempt.delay.sec` whatever the
headroom, the AM kills one running reducer per such map (KILLED,
REDUCER_PREEMPTED: it uses up no attempt), preferring the most recently
started one still copying. From then on reducers are held back (UNASSIGNED,
no request at YARN) until every map of the step has a container; then they
are asked for again.
"""

from __future__ import annotations

import logging

from mapreduce.appmaster.records import (
    FAST_FAIL_MAP_PRIORITY,
    MAP,
    REDUCE,
    AttemptEventType,
    AttemptState,
    CancelRequest,
    Command,
    EndCause,
    FetchFailed,
    JobState,
    NodesDecommissioning,
    NodesLost,
    TaskEventType,
    TaskState,
    task_id_text,
)
from mapreduce.appmaster.tasks import HOLDING_CONTAINER, REDUCE_COPY_PHASE_END, Attempt, Task
from mapreduce.task.umbilical import MapCompletionStatus

logger = logging.getLogger(__name__)


class NodeLossHandling:
    """The node-loss half of JobStateMachine; it uses the machine's attempt and task moves."""

    def _on_nodes_lost(self, event: NodesLost, now_s: float, commands: list[Command]) -> None:
        lost = set(event.node_ids)
        self.decommissioning_nodes -= lost
        for attempt in list(self.attempts.values()):
            if attempt.node_id not in lost or attempt.key.step_index != self.step_index:
                continue
            if attempt.state in HOLDING_CONTAINER:
                self._attempt_killed(attempt, EndCause.NODE_LOST, f"node {attempt.node_id} lost", now_s, commands)
            elif attempt.state is AttemptState.SUCCEEDED and attempt.key.kind == MAP and not attempt.output_lost:
                self._map_output_gone(attempt, f"map output lost with node {attempt.node_id}", now_s, commands)

    def _on_nodes_decommissioning(self, event: NodesDecommissioning, now_s: float, commands: list[Command]) -> None:
        """The node goes soon: running maps start again elsewhere now (a reducer may well finish in time)."""
        noticed = set(event.node_ids) - self.decommissioning_nodes
        self.decommissioning_nodes |= noticed
        for attempt in list(self.attempts.values()):
            if (attempt.node_id in noticed and attempt.key.kind == MAP
                    and attempt.state in (AttemptState.ASSIGNED, AttemptState.RUNNING)):
                self._attempt_killed(attempt, EndCause.NODE_DECOMMISSIONING,
                                     f"node {attempt.node_id} decommissioning: moved to another node", now_s, commands)

    def _reducers_left(self, step_index: int) -> list[Task]:
        if self.state is not JobState.RUNNING or step_index != self.step_index:
            return []
        return [task for task in self.step_tasks(REDUCE, step_index) if task.state is not TaskState.SUCCEEDED]

    def _map_output_gone(self, attempt: Attempt, diagnostics: str, now_s: float, commands: list[Command]) -> None:
        """A succeeded map's output went with its node: run it again if a reducer still has to copy it,
        else remember, so that a reduce attempt started later gets it run again first."""
        reducers = self._reducers_left(attempt.key.step_index)
        if not reducers:
            return
        if all(task.has_map_output() for task in reducers):
            attempt.output_lost = True
            attempt.diagnostics = diagnostics
            logger.info("%s: %s; every reducer left has copied it", attempt.attempt_id, diagnostics)
            return
        self._map_output_lost(attempt, AttemptState.KILLED, EndCause.NODE_LOST, diagnostics, now_s, commands)

    def _rerun_lost_map_outputs(self, now_s: float, commands: list[Command]) -> None:
        for task in self.step_tasks(MAP):
            attempt = task.succeeded_attempt()
            if attempt is not None and attempt.output_lost:
                self._map_output_lost(attempt, AttemptState.KILLED, EndCause.NODE_LOST, attempt.diagnostics, now_s,
                                      commands)

    def _map_output_lost(self, attempt: Attempt, state: AttemptState, cause: EndCause, diagnostics: str,
                         now_s: float, commands: list[Command]) -> None:
        """SUCCEEDED -> KILLED or FAILED: reducers hear OBSOLETE now and SUCCEEDED when the re-run is done."""
        task = self.tasks[attempt.key]
        attempt.diagnostics = diagnostics
        attempt.end_cause, attempt.end_phase = cause, attempt.phase()
        event = AttemptEventType.KILL if state is AttemptState.KILLED else AttemptEventType.TOO_MANY_FETCH_FAILURES
        self._move_attempt(attempt, event, diagnostics)
        self._add_completion_event(attempt, MapCompletionStatus.OBSOLETE)
        self._move_task(task, TaskEventType.OUTPUT_LOST, diagnostics)
        task.commit_attempt_id = None
        self.job_counters["NUM_MAPS_RERUN_OUTPUT_LOST"] += 1
        if state is AttemptState.FAILED:
            task.failed_attempts += 1
            self.job_counters["NUM_FAILED_MAPS"] += 1
            if task.failed_attempts >= self.config.map_attempts_max:
                self._task_failed(task, f"Task {task_id_text(self.job_id, task.key)} failed "
                                        f"{task.failed_attempts} times: {diagnostics}", now_s, commands)
                return
        else:
            self.job_counters["NUM_KILLED_MAPS"] += 1
            if not self._count_kill(task, cause, now_s, commands):
                return
        self._schedule_attempt(task, FAST_FAIL_MAP_PRIORITY, now_s, commands,
                               f"map output of {attempt.attempt_id} lost ({cause.value} on {attempt.node_id})")

    def _on_fetch_failed(self, event: FetchFailed, now_s: float, commands: list[Command]) -> None:
        attempt = self.attempts.get(event.map_attempt_id)
        if (attempt is None or attempt.state is not AttemptState.SUCCEEDED
                or not self._reducers_left(attempt.key.step_index)):
            return
        attempt.fetch_failures += 1
        attempt.unreachable_fetch_failures += event.node_unreachable
        logger.info("%s: fetch failure %d reported by %s%s", attempt.attempt_id, attempt.fetch_failures,
                    event.reduce_attempt_id, " (node unreachable)" if event.node_unreachable else "")
        if attempt.output_lost:  # gone with its node, and now a reducer wants it after all
            self._map_output_lost(attempt, AttemptState.KILLED, EndCause.NODE_LOST, attempt.diagnostics, now_s,
                                  commands)
        elif attempt.node_id in self.decommissioning_nodes:
            # Its node has notice: the output is about to vanish, not the map's fault.
            self._map_output_lost(attempt, AttemptState.KILLED, EndCause.NODE_DECOMMISSIONING,
                                  f"map output on decommissioning node {attempt.node_id} unreadable", now_s, commands)
        elif attempt.fetch_failures >= self.config.fetch_failures_max:
            if attempt.unreachable_fetch_failures == attempt.fetch_failures:
                # The node itself does not answer: most likely gone, which YARN will say soon.
                self._map_output_lost(attempt, AttemptState.KILLED, EndCause.NODE_UNREACHABLE,
                                      f"Too many fetch failures ({attempt.fetch_failures}), node {attempt.node_id} "
                                      f"unreachable; running the map again", now_s, commands)
            else:
                self._map_output_lost(attempt, AttemptState.FAILED, EndCause.FETCH_FAILURES,
                                      f"Too many fetch failures ({attempt.fetch_failures}); failing the attempt",
                                      now_s, commands)



class ReducerPreemption:
    """The reducer-preemption half of JobStateMachine (Hadoop's preemptReducesIfNeeded), run on every Tick."""

    def _step_attempts(self, kind: str, *states: AttemptState) -> list[Attempt]:
        return [attempt for attempt in self.attempts.values()
                if attempt.key.kind == kind and attempt.key.step_index == self.step_index and attempt.state in states]

    def _preempt_reducers_if_needed(self, headroom_maps: int, now_s: float, commands: list[Command]) -> None:
        if self.state is not JobState.RUNNING:
            return
        waiting = self._step_attempts(MAP, AttemptState.UNASSIGNED)
        if not waiting:
            self._release_held_reducers(commands)
            return
        # Not those committing: they are about to finish and free their container anyway.
        reducers = self._step_attempts(REDUCE, AttemptState.ASSIGNED, AttemptState.RUNNING)
        if not reducers:
            return
        unconditional_s = self.config.reducer_unconditional_preempt_delay_s
        if unconditional_s >= 0 and any(now_s - attempt.waiting_since_s > unconditional_s for attempt in waiting):
            delay_s, why = unconditional_s, "mapreduce.job.reducer.unconditional-preempt.delay.sec"
        elif headroom_maps == 0 and not self._step_attempts(MAP, *HOLDING_CONTAINER):
            delay_s, why = max(self.config.reducer_preempt_delay_s, 0.0), "no headroom for a map"
        else:
            return
        hanging = sorted((attempt for attempt in waiting if now_s - attempt.waiting_since_s > delay_s),
                         key=lambda attempt: attempt.waiting_since_s)
        if not hanging:
            return
        self._hold_reducers(commands)
        for map_attempt, reducer in zip(hanging, self._reducers_to_preempt(reducers)):
            waited_s = now_s - map_attempt.requested_s
            map_attempt.waiting_since_s = now_s  # the next reducer for it only after another delay
            self.job_counters["NUM_REDUCES_PREEMPTED"] += 1
            self._attempt_killed(reducer, EndCause.REDUCER_PREEMPTED,
                                 f"preempted to make room for {map_attempt.attempt_id}, which waited "
                                 f"{waited_s:.0f} s for a container ({why})", now_s, commands)

    @staticmethod
    def _reducers_to_preempt(reducers: list[Attempt]) -> list[Attempt]:
        """Most recently started first, those still copying map output before the rest (they lose least)."""
        return sorted(reducers, key=lambda attempt: (attempt.progress >= REDUCE_COPY_PHASE_END, -attempt.start_time_s,
                                                     attempt.attempt_id))

    def _hold_reducers(self, commands: list[Command]) -> None:
        """Reducers still waiting for a container give up their requests until maps have theirs."""
        self.holding_reduces = True
        for attempt in self._step_attempts(REDUCE, AttemptState.UNASSIGNED):
            request_id = self.requests.close(attempt.attempt_id)
            if request_id is not None:
                commands.append(CancelRequest(attempt.attempt_id, request_id))
            if not attempt.held:
                attempt.held = True
                logger.info("%s: held back while maps wait for containers", attempt.attempt_id)

    def _release_held_reducers(self, commands: list[Command]) -> None:
        """Every map of the step has a container (or is done): ask for the held reducers again."""
        if not self.holding_reduces:
            return
        self.holding_reduces = False
        for attempt in sorted(self._step_attempts(REDUCE, AttemptState.UNASSIGNED), key=lambda a: a.key):
            if attempt.held:
                attempt.held = False
                logger.info("%s: maps have their containers; container requested again", attempt.attempt_id)
                self._request_container(attempt, commands)
