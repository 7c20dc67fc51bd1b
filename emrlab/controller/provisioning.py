"""The controller shell's instances: provisioning, bootstrapping, daemons, decommissioning, termination.

A part of `ControllerShell` (shell.py), run on its worker threads: each method carries out one
command of the state machine (LaunchInstance, WaitHealthy, DecommissionInstance, TerminateInstance,
SpotNotice) with real processes and files, and reports what happened as events through
`_report`. An instance's launch: its disk and instance.json (as EMR's /mnt/var/lib/info),
its bootstrap actions in order (the first non-zero exit fails it), then its daemons
(ROLE_DAEMONS), each waited for until it publishes its address.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from emrlab import launcher
from emrlab.controller import decommission
from emrlab.controller.instancetypes import (
    instance_type,
    machine_capacity,
    scaled_resources,
)
from emrlab.controller.messages import (
    ClusterHealthy,
    DecommissionInstance,
    InstanceDecommissioned,
    InstanceFailed,
    InstanceProvisioned,
    InstanceStarted,
    InstanceStopped,
    LaunchInstance,
    SpotNotice,
    TerminateInstance,
    WaitHealthy,
)
from emrlab.controller.records import InstanceReason, InstanceState, Role
from emrlab_common.clusterdir import process_alive, write_json_atomically
from emrlab_common.daemon import daemon_environment
from emrlab_common.errors import EmrlabError
from yarn.nodemanager.containers import kill_leftover_containers

logger = logging.getLogger(__name__)

BOOTSTRAP_TIMEOUT_S = 600.0
HEALTH_TIMEOUT_S = 120.0
DECOMMISSION_WAIT_MAX_S = 3600.0

ROLE_DAEMONS = {
    Role.MASTER: ("hdfs.namenode", "yarn.resourcemanager", "mapreduce.jobhistory"),  # as EMR's master node
    Role.CORE: ("hdfs.datanode", "yarn.nodemanager"),
    Role.TASK: ("yarn.nodemanager",),
}


class InstanceProvisioning:
    """Needs of its `ControllerShell`: `cluster_dir`, `properties`, `state`, `launching`, `stopping`,
    `instance_logs`, `_report`."""

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
        definitions.update((key, value) for key, value in resources.properties().items() if key not in self.properties)
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
