"""The controller's shell: carries out the state machine's commands with real processes.

Every event, from an RPC or from what the shell sees, goes through `submit`:
under one lock the state handles it and the edits it made are journaled
(fsync'd) before anything is done or anyone hears "ok"; then the commands run,
the long ones (launching an instance, decommissioning one, waiting for HDFS)
on a bounded pool of worker threads that report back with events.

A monitor loop ticks the state and watches the world: an instance whose
daemon processes are gone has failed (a SIGSTOPped one is alive, not failed);
a step whose process has exited has finished (its exit status is on disk).

Where things live: this file holds `submit` (state, journal, then commands),
the dispatch of each command to a worker, cluster.json's node list and the
monitor. What the commands do is in the parts `ControllerShell` is made of:
provisioning.py (launching, bootstrapping, decommissioning and stopping
instances, waiting for HDFS and YARN) and stepprocesses.py (starting,
cancelling and watching step processes).

Instances on disk, in EMR's log layout:

    <dir>/nodes/<node>/                                   the instance's disk (removed when it terminates)
    <dir>/logs/<cluster id>/node/<instance id>/           its daemons' and bootstrap actions' logs
    <dir>/logs/<cluster id>/node/<instance id>/containers its containers' logs
    <dir>/logs/<cluster id>/steps/<step id>/              controller, stdout, stderr, exit_status
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emrlab.controller.journal import Journal
from emrlab.controller.messages import (
    CancelStep,
    DecommissionInstance,
    InstanceFailed,
    KillInstance,
    LaunchInstance,
    SpotNotice,
    StartStep,
    StopController,
    TerminateInstance,
    Tick,
    WaitHealthy,
    WatchStep,
    YarnLoad,
)
from emrlab.controller.provisioning import InstanceProvisioning
from emrlab.controller.records import InstanceReason, InstanceState, Role
from emrlab.controller.state import ControllerState
from emrlab.controller.stepprocesses import StepProcesses
from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.clusterspec import NodeSpec
from emrlab_common.errors import EmrlabError

logger = logging.getLogger(__name__)

WORKERS_MAX = 8
MONITOR_INTERVAL_S = 0.5
SCALING_POLL_TICKS = 2  # managed scaling reads YARN every second


class ControllerShell(InstanceProvisioning, StepProcesses):
    """Events in, journaled, commands out; the monitor. What the commands do is in its parts:
    instances (provisioning.py) and steps (stepprocesses.py)."""

    def __init__(self, cluster_dir: ClusterDir, properties: dict[str, str], state: ControllerState, journal: Journal):
        self.cluster_dir = cluster_dir
        self.properties = properties
        self.state = state
        self.journal = journal
        self.lock = threading.RLock()
        self.stopped = threading.Event()   # the controller may exit (StopController ran)
        self.workers = ThreadPoolExecutor(WORKERS_MAX, thread_name_prefix="controller-worker")
        self.step_processes: dict[str, subprocess.Popen] = {}
        self.watched_steps: set[str] = set()
        self.launching: set[str] = set()   # instances a worker is starting: their processes may not exist yet
        self.stopping: set[str] = set()    # instances being stopped on purpose: not failures

    # ------------------------------------------------------------ layout

    @property
    def cluster_logs(self) -> Path:
        return self.cluster_dir.logs_dir / self.state.cluster_id

    def instance_logs(self, instance_id: str) -> Path:
        return self.cluster_logs / "node" / instance_id

    def step_logs(self, step_id: str) -> Path:
        return self.cluster_logs / "steps" / step_id

    # ------------------------------------------------------------ events in, commands out

    def submit(self, event) -> list:
        """Handle one event: state change, journal, then carry out the commands."""
        with self.lock:
            try:
                commands = self.state.handle(event, time.time())
            finally:
                edits = self.state.take_edits()
                self.journal.append(edits)
                if edits:
                    self.write_spec()
            for command in commands:
                self._execute(command)
        return commands

    def _report(self, event) -> None:
        """A worker's report; the controller may be on its way out."""
        try:
            self.submit(event)
        except EmrlabError as error:
            logger.warning("could not apply %s: %s", type(event).__name__, error.message)

    def _execute(self, command) -> None:
        match command:
            case LaunchInstance():
                self.launching.add(command.instance_id)
                self.workers.submit(self._guarded, self._launch, command)
            case WaitHealthy():
                self.workers.submit(self._guarded, self._wait_healthy, command)
            case DecommissionInstance():
                self.workers.submit(self._guarded, self._decommission, command)
            case TerminateInstance():
                self.stopping.add(command.instance_id)
                self.workers.submit(self._guarded, self._terminate_instance, command)
            case SpotNotice():
                self.workers.submit(self._guarded, self._spot_notice, command)
            case KillInstance():
                self.stopping.add(command.instance_id)
                self.workers.submit(self._guarded, self._terminate_instance,
                                    TerminateInstance(command.instance_id, command.node_name), signal.SIGKILL)
            case StartStep():
                self._start_step(command)
            case CancelStep():
                self._cancel_step(command.step_id)
            case WatchStep():
                self.watched_steps.add(command.step_id)
            case StopController():
                self.workers.submit(self._guarded, self._stop_when_idle)
            case _:
                raise AssertionError(f"unknown command {command!r}")

    def _guarded(self, function, *args) -> None:
        """A worker's operating errors become events where they occur; anything else is a bug: stop, loudly.
        The journal holds every change, so `emrlab cluster up` brings the controller back where it was."""
        try:
            function(*args)
        except Exception:
            logger.critical("controller worker crashed in %s; the controller stops (cluster up restarts it)",
                            function.__name__, exc_info=True)
            self.stopped.set()

    def write_spec(self) -> None:
        """cluster.json's node list, which the launcher's health checks and daemon arguments read."""
        nodes = tuple(NodeSpec(instance.node_name, instance.role.value, instance.market.value, instance.instance_id)
                      for instance in self.state.instances.values()
                      if instance.role is not Role.MASTER and instance.state is not InstanceState.TERMINATED)
        spec = dataclasses.replace(self.cluster_dir.read_spec(), nodes=nodes, cluster_id=self.state.cluster_id)
        self.cluster_dir.write_spec(spec)

    # ------------------------------------------------------------ the monitor

    def _check_instances(self) -> None:
        with self.lock:
            if self.state.stopped or not self.state.alive:
                return
            watched = [instance for instance in self.state.instances.values()
                       if instance.state is InstanceState.RUNNING and not instance.decommissioning
                       and instance.notice_s is None and instance.instance_id not in self.launching | self.stopping | self.state.restarting]
        for instance in watched:
            dead = [name for name in self._daemon_names(instance.node_name, instance.role)
                    if (record := self.cluster_dir.read_daemon(name)) is None or not process_alive(record.pid)]
            if dead:
                self._report(InstanceFailed(instance.instance_id, InstanceReason.INSTANCE_FAILURE,
                                            f"Instance failed: {', '.join(dead)} exited"))

    def _report_yarn_load(self) -> None:
        """What managed scaling looks at: containers YARN has not placed yet, and which nodes run any."""
        from yarn.client import YarnClient

        try:
            with YarnClient.for_cluster(self.cluster_dir, user=self.cluster_dir.read_spec().superuser) as client:
                pending = sum(report.pending_containers for report in client.applications(("ACCEPTED", "RUNNING")))
                busy = tuple(node.node_id for node in client.nodes() if node.num_containers > 0)
        except EmrlabError as error:
            logger.debug("managed scaling: cannot read YARN (%s)", error.message)
            return
        self._report(YarnLoad(pending, busy))

    def run_monitor(self) -> None:
        ticks = 0
        while not self.stopped.wait(MONITOR_INTERVAL_S):
            self._check_instances()
            self._check_steps()
            self._report(Tick())
            ticks += 1
            if self.state.scaling is not None and ticks % SCALING_POLL_TICKS == 0:
                self._report_yarn_load()

    def _stop_when_idle(self) -> None:
        """Let the workers stopping instances finish, then let the process exit."""
        while self.stopping:
            time.sleep(0.1)
        self.stopped.set()

    def close(self) -> None:
        self.workers.shutdown(wait=False, cancel_futures=True)
        self.journal.close()
