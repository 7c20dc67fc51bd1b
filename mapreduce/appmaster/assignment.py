"""Assignment: which attempt gets a container, and when reducers are asked for (part of JobStateMachine).

As Hadoop's RMContainerAllocator decides it:
- each attempt asks YARN for a container of its own (`RequestContainer`,
  under an allocation request id the machine chose: requests.py); a map asks
  on its split's hosts, with locality relaxed;
- priorities: a map that failed before (5) ahead of reducers (10) ahead of
  first map attempts (20); a container goes to an attempt of its priority;
- locality: a container on a node holding a waiting map's split goes to that
  map (DATA_LOCAL_MAPS), else to the oldest waiting attempt (OTHER_LOCAL_MAPS);
  if that was not the attempt whose request YARN satisfied, that request
  passes to the attempt still waiting, so none is lost or left over;
- slow start: a step's reducers are asked for only once
  `mapreduce.job.reduce.slowstart.completedmaps` of its maps succeeded;
- a container nobody waits for is given back (`ReleaseContainer`).
"""

from __future__ import annotations

from mapreduce.appmaster.records import (
    ATTEMPT_INDEX_STRIDE,
    MAP,
    REDUCE,
    REDUCE_PRIORITY,
    AttemptEventType,
    AttemptState,
    CancelRequest,
    Command,
    ContainerAllocated,
    JobState,
    LaunchAttempt,
    ReleaseContainer,
    RequestContainer,
    TaskEventType,
    TaskState,
    attempt_id_text,
)
from mapreduce.appmaster.tasks import Attempt, Locality, Task


class Assignment:
    """The assignment part of JobStateMachine: new attempts, their container requests and containers."""

    def _schedule_attempt(self, task: Task, priority: int, now_s: float, commands: list[Command],
                          cause: str = "") -> None:
        if task.state is not TaskState.SCHEDULED:
            self._move_task(task, TaskEventType.SCHEDULE)
        key = task.key
        index = (self.am_attempt - 1) * ATTEMPT_INDEX_STRIDE + sum(not a.recovered for a in task.attempts)
        attempt = Attempt(attempt_id_text(self.job_id, key, index), key, index, priority=priority, cause=cause,
                          requested_s=now_s, waiting_since_s=now_s)
        task.attempts.append(attempt)
        self.attempts[attempt.attempt_id] = attempt
        attempt.held = key.kind == REDUCE and self.holding_reduces
        self._move_attempt(attempt, AttemptEventType.SCHEDULE, cause or (
            "held back while maps wait for containers" if attempt.held else "container requested"))
        if not attempt.held:
            self._request_container(attempt, commands)
        if key.kind == REDUCE and len(task.attempts) > 1:
            self._rerun_lost_map_outputs(now_s, commands)  # a new reduce attempt copies every map's output again

    def _request_container(self, attempt: Attempt, commands: list[Command]) -> None:
        commands.append(RequestContainer(attempt.attempt_id, attempt.key.kind, self.tasks[attempt.key].hosts,
                                         attempt.priority, self.requests.open(attempt.attempt_id)))

    def _on_container_allocated(self, event: ContainerAllocated, now_s: float, commands: list[Command]) -> None:
        owner = self.attempts.get(self.requests.satisfied(event.allocation_request_id) or "")
        waiting = [attempt for attempt in self.attempts.values()
                   if attempt.state is AttemptState.UNASSIGNED and not attempt.held and attempt.priority == event.priority]
        if self.state is not JobState.RUNNING or not waiting:
            commands.append(ReleaseContainer(event.container_id))  # (an owner still waiting would be in `waiting`)
            return
        # Hadoop's assignment order: a map whose split is on this node, else the oldest request.
        local = [attempt for attempt in waiting if event.node_id in self.tasks[attempt.key].hosts]
        attempt = (local or waiting)[0]
        if attempt is not owner:
            request_id = self.requests.close(attempt.attempt_id)
            if owner is not None and owner.state is AttemptState.UNASSIGNED:
                self.requests.hand_over(request_id, owner.attempt_id)  # YARN used the owner's request
            elif request_id is not None:
                commands.append(CancelRequest(attempt.attempt_id, request_id))
        if attempt.key.kind == MAP:
            attempt.locality = Locality.DATA_LOCAL if local else Locality.OFF_SWITCH
            self.job_counters["DATA_LOCAL_MAPS" if local else "OTHER_LOCAL_MAPS"] += 1
        self.job_counters["TOTAL_LAUNCHED_MAPS" if attempt.key.kind == MAP else "TOTAL_LAUNCHED_REDUCES"] += 1
        attempt.container_id = event.container_id
        attempt.node_id = event.node_id
        attempt.node_address = event.node_address
        attempt.start_time_s = attempt.last_progress_s = now_s
        self.attempts_by_container[event.container_id] = attempt
        self._move_attempt(attempt, AttemptEventType.ASSIGN, f"container {event.container_id} on {event.node_id}")
        commands.append(LaunchAttempt(attempt.attempt_id, event.container_id))


    def _maybe_schedule_reduces(self, now_s: float, commands: list[Command]) -> None:
        if self._reduces_requested:
            return
        maps = self.step_tasks(MAP)
        done = sum(1 for task in maps if task.state is TaskState.SUCCEEDED)
        if maps and done < self.config.reduce_slowstart_completed_maps * len(maps):
            return
        self._reduces_requested = True
        for task in self.step_tasks(REDUCE):
            if task.state is TaskState.NEW:
                self._schedule_attempt(task, REDUCE_PRIORITY, now_s, commands)

