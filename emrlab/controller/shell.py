"""The controller's shell: carries out the state machine's commands with real processes.

Every event, from an RPC or from what the shell sees, goes through `submit`:
under one lock the state handles it and the edits it made are journaled
(fsync'd) before anything is done or anyone hears "ok"; then the commands run,
the long ones (launching an instance, decommissioning one, waiting for HDFS)
on a bounded pool of worker threads that report back with events.

A monitor loop ticks the state and watches the world: an instance whose
daemon processes are gone has failed (a SIGSTOPped one is alive, not failed);
a step whose process has exited has finished (its exit status is on disk).

Instances on disk, in EMR's log layout:

    <dir>/nodes/<node>/                                   the instance's disk (removed when it terminates)
    <dir>/logs/<cluster id>/node/<instance id>/           its daemons' and bootstrap actions' logs
    <dir>/logs/<cluster id>/node/<instance id>/containers its containers' logs
    <dir>/logs/<cluster id>/steps/<step id>/              controller, stdout, stderr, exit_status
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emrlab import launcher
from emrlab.controller import decommission
from emrlab.controller.instancetypes import (
    instance_type,
    machine_capacity,
    scaled_resources,
)
from emrlab.controller.journal import Journal
from emrlab.controller.messages import (
    CancelStep,
    ClusterHealthy,
    DecommissionInstance,
    InstanceDecommissioned,
    InstanceFailed,
    InstanceProvisioned,
    InstanceStarted,
    InstanceStopped,
    KillInstance,
    LaunchInstance,
    SpotNotice,
    StartStep,
    StepExited,
    StopController,
    TerminateInstance,
    Tick,
    WaitHealthy,
    WatchStep,
    YarnLoad,
)
from emrlab.controller.records import InstanceReason, InstanceState, Role
from emrlab.controller.state import ControllerState
from emrlab_common.clusterdir import ClusterDir, process_alive, write_json_atomically
from emrlab_common.clusterspec import NodeSpec
from emrlab_common.daemon import daemon_environment
from emrlab_common.errors import EmrlabError
from yarn.nodemanager.containers import kill_leftover_containers

logger = logging.getLogger(__name__)

WORKERS_MAX = 8
MONITOR_INTERVAL_S = 0.5
BOOTSTRAP_TIMEOUT_S = 600.0
HEALTH_TIMEOUT_S = 120.0
DECOMMISSION_WAIT_MAX_S = 3600.0
SCALING_POLL_TICKS = 2  # managed scaling reads YARN every second

ROLE_DAEMONS = {
    Role.MASTER: ("hdfs.namenode", "yarn.resourcemanager", "mapreduce.jobhistory"),  # as EMR's master node
    Role.CORE: ("hdfs.datanode", "yarn.nodemanager"),
    Role.TASK: ("yarn.nodemanager",),
}


class ControllerShell:
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

    # ------------------------------------------------------------ instances

    def _launch(self, command: LaunchInstance) -> None:
        try:
            node_dir = self.cluster_dir.node_dir(command.node_name)
            log_dir = self.instance_logs(command.instance_id)
            self._stop_daemons(command.node_name, command.role)  # leftovers of a launch a crash cut short
            node_dir.mkdir(parents=True, exist_ok=True)
            log_dir.mkdir(parents=True, exist_ok=True)
            self._write_instance_info(command, node_dir)
            self._report(InstanceProvisioned(command.instance_id))
            for index, action in enumerate(command.bootstrap_actions, start=1):
                if not self._run_bootstrap_action(command, index, action, node_dir, log_dir):
                    self._report(InstanceFailed(command.instance_id, InstanceReason.BOOTSTRAP_FAILURE,
                                                f"bootstrap action {index} returned a non-zero return code"))
                    return
            self._start_daemons(command, log_dir)
            self._report(InstanceStarted(command.instance_id))
        except EmrlabError as error:
            self._report(InstanceFailed(command.instance_id, InstanceReason.INTERNAL_ERROR, error.message))
        except OSError as error:  # its disk: a full or read-only file system, a missing program
            self._report(InstanceFailed(command.instance_id, InstanceReason.INTERNAL_ERROR,
                                        f"cannot start the instance: {error}"))
        finally:
            self.launching.discard(command.instance_id)

    def _write_instance_info(self, command: LaunchInstance, node_dir: Path) -> None:
        """What EMR puts in /mnt/var/lib/info/instance.json, for bootstrap actions to read."""
        info = {"isMaster": command.role is Role.MASTER, "instanceRole": command.role.value.lower(),
                "instanceId": command.instance_id, "clusterId": self.state.cluster_id,
                "instanceType": command.instance_type, "nodeName": command.node_name}
        (node_dir / "instance.json").write_text(json.dumps(info, indent=2) + "\n")

    def _run_bootstrap_action(self, command: LaunchInstance, index: int, action, node_dir: Path, log_dir: Path) -> bool:
        action_dir = log_dir / "bootstrap-actions" / str(index)
        action_dir.mkdir(parents=True, exist_ok=True)
        program = [action.path] if os.access(action.path, os.X_OK) else ["bash", action.path]
        environment = dict(daemon_environment(), EMRLAB_CLUSTER=str(self.cluster_dir.root),
                           EMRLAB_CLUSTER_ID=self.state.cluster_id, EMRLAB_INSTANCE_ID=command.instance_id,
                           EMRLAB_INSTANCE_ROLE=command.role.value, EMRLAB_IS_MASTER=str(command.role is Role.MASTER).lower(),
                           EMRLAB_NODE_DIR=str(node_dir))
        logger.info("instance %s: bootstrap action %d (%s): %s", command.instance_id, index, action.name, action.path)
        with open(action_dir / "stdout", "ab") as stdout, open(action_dir / "stderr", "ab") as stderr:
            try:
                result = subprocess.run([*program, *action.args], stdin=subprocess.DEVNULL, stdout=stdout,
                                        stderr=stderr, env=environment, cwd=node_dir, timeout=BOOTSTRAP_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as error:
                stderr.write(f"bootstrap action failed: {error}\n".encode())
                return False
        return result.returncode == 0

    def _start_daemons(self, command: LaunchInstance, log_dir: Path) -> None:
        extra = self._daemon_properties(command, log_dir)
        for module in ROLE_DAEMONS[command.role]:
            process = launcher.spawn(self.cluster_dir, module, "" if command.role is Role.MASTER else command.node_name,
                                     extra.get(module, ()), log_dir=log_dir)
            launcher.wait_published(self.cluster_dir, launcher.daemon_name(module, "" if command.role is Role.MASTER
                                                                           else command.node_name),
                                    launcher.START_TIMEOUT_S, process, log_dir)

    def _daemon_properties(self, command: LaunchInstance, log_dir: Path) -> dict[str, tuple[str, ...]]:
        """A NodeManager's label and resources come from its instance, as EMR's yarn-site does."""
        if command.role is Role.MASTER:
            return {}
        resources = self.node_resources()[command.instance_id]
        definitions = {"yarn.nodemanager.node-labels.provider.configured-node-partition": command.role.value,
                       "yarn.nodemanager.log-dirs": str(log_dir / "containers")}
        if "yarn.nodemanager.resource.memory-mb" not in self.properties:
            definitions["yarn.nodemanager.resource.memory-mb"] = str(resources.memory_mb)
        if "yarn.nodemanager.resource.cpu-vcores" not in self.properties:
            definitions["yarn.nodemanager.resource.cpu-vcores"] = str(resources.vcores)
        arguments = tuple(item for key, value in definitions.items() for item in ("-D", f"{key}={value}"))
        return {"yarn.nodemanager": arguments}

    def node_resources(self) -> dict:
        """What each worker instance's NodeManager offers: its type, scaled with the others' to this machine."""
        workers = [instance for instance in self.state.instances.values()
                   if instance.role is not Role.MASTER and instance.state is not InstanceState.TERMINATED]
        cores, memory_mb = machine_capacity()
        resources, _ = scaled_resources([instance_type(instance.instance_type) for instance in workers], cores, memory_mb)
        return {instance.instance_id: resource for instance, resource in zip(workers, resources)}

    def _daemon_names(self, node_name: str, role: Role) -> list[str]:
        return [launcher.daemon_name(module, "" if role is Role.MASTER else node_name) for module in ROLE_DAEMONS[role]]

    def _daemon_records(self, node_name: str, role: Role) -> list:
        names = self._daemon_names(node_name, role)
        return [record for name in names if (record := self.cluster_dir.read_daemon(name)) is not None
                and process_alive(record.pid)]

    def _stop_daemons(self, node_name: str, role: Role) -> None:
        launcher.stop_daemons(self.cluster_dir, self._daemon_records(node_name, role), launcher.STOP_TIMEOUT_S,
                              signal.SIGKILL)

    def _terminate_instance(self, command: TerminateInstance, sig: int = signal.SIGTERM) -> None:
        """Stop the instance's processes (SIGTERM, SIGKILL after a while; at once for `sig` SIGKILL), then clean up."""
        instance = self.state.instances[command.instance_id]
        launcher.stop_daemons(self.cluster_dir, self._daemon_records(command.node_name, instance.role),
                              launcher.STOP_TIMEOUT_S, sig)
        node_dir = self.cluster_dir.node_dir(command.node_name)
        kill_leftover_containers(self.cluster_dir.root, command.node_name)  # their NodeManager can no longer
        if command.remove_data and instance.role is not Role.MASTER:
            shutil.rmtree(node_dir, ignore_errors=True)
        self.stopping.discard(command.instance_id)
        self._report(InstanceStopped(command.instance_id))

    def _spot_notice(self, command: SpotNotice) -> None:
        """EC2's two-minute warning: the instance-action document, and a graceful decommission that races the kill."""
        from emrlab.controller.views import timestamp

        action = self.cluster_dir.node_dir(command.node_name) / "spot" / "instance-action"
        write_json_atomically(action, {"action": "terminate", "time": timestamp(command.deadline_s)})
        superuser = self.cluster_dir.read_spec().superuser
        if command.role is Role.CORE:
            try:
                decommission.exclude_datanode(self.cluster_dir, command.node_name, superuser)
            except EmrlabError as error:
                logger.warning("spot notice for %s: HDFS decommission did not start: %s", command.node_name,
                               error.message)
        decommission.decommission_in_yarn(self.cluster_dir, command.node_name, superuser,
                                          max(0.0, command.deadline_s - time.time()))

    def _decommission(self, command: DecommissionInstance) -> None:
        """YARN graceful decommission (and HDFS decommission for a core node), then report."""
        superuser = self.cluster_dir.read_spec().superuser
        deadline = time.monotonic() + DECOMMISSION_WAIT_MAX_S
        if command.role is Role.CORE:
            decommission.decommission_datanode(self.cluster_dir, command.node_name, superuser, deadline)
        decommission.decommission_in_yarn(self.cluster_dir, command.node_name, superuser, command.timeout_s, deadline)
        self._report(InstanceDecommissioned(command.instance_id))

    def _wait_healthy(self, command: WaitHealthy) -> None:
        spec = self.cluster_dir.read_spec()
        try:
            for name in ("hdfs", "yarn"):
                launcher.wait_healthy(self.cluster_dir, spec, launcher.SERVICES[name], HEALTH_TIMEOUT_S,
                                      lambda line: logger.info("%s", line))
            if command.first_start:
                launcher.SERVICES["hdfs"].first_start(self.cluster_dir, spec)
        except EmrlabError as error:
            master = self.state.master()
            if master is not None:
                self._report(InstanceFailed(master.instance_id, InstanceReason.INTERNAL_ERROR, error.message))
            return
        self._report(ClusterHealthy())

    # ------------------------------------------------------------ steps

    def _start_step(self, command: StartStep) -> None:
        step_dir = self.step_logs(command.step_id)
        step_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "emrlab.controller.steprunner", "--dir", str(self.cluster_dir.root),
             "--step-dir", str(step_dir), "--", *command.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(step_dir / "runner.err", "ab"),
            start_new_session=True, env=daemon_environment())
        (step_dir / "pid").write_text(str(process.pid))
        self.step_processes[command.step_id] = process
        self.watched_steps.add(command.step_id)
        logger.info("step %s started (pid %d): %s", command.step_id, process.pid, " ".join(command.args))

    def _step_pid(self, step_id: str) -> int | None:
        try:
            return int((self.step_logs(step_id) / "pid").read_text())
        except (OSError, ValueError):
            return None

    def _cancel_step(self, step_id: str) -> None:
        pid = self._step_pid(step_id)
        if pid is not None and process_alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        self.watched_steps.add(step_id)

    def _check_steps(self) -> None:
        for step_id in list(self.watched_steps):
            process = self.step_processes.get(step_id)
            if process is not None and process.poll() is None:
                continue
            pid = self._step_pid(step_id)
            if process is None and pid is not None and process_alive(pid):
                continue  # adopted after a restart, still running
            self.watched_steps.discard(step_id)
            self.step_processes.pop(step_id, None)
            try:
                exit_code = json.loads((self.step_logs(step_id) / "exit_status").read_text())["exit_code"]
            except (OSError, ValueError, KeyError):
                exit_code = None
            self._report(StepExited(step_id, exit_code))

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
