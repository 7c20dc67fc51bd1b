"""`python -m emrlab.controller --dir CLUSTER_DIR`: run the cluster controller on the primary node.

At its first start it reads the definition `emrlab cluster up` left in
<dir>/controller/definition.json and journals the cluster; at every later
start it replays the journal and takes up where it was: running instances
are adopted, not restarted (after `cluster down` they are started again).
"""

import json
import threading
import time

from emrlab.controller.client import CONTROLLER
from emrlab.controller.definition import parse_definition, with_lab_timing
from emrlab.controller.http import ControllerHttpConfig, ControllerWeb
from emrlab.controller.instancetypes import use_table_from
from emrlab.controller.journal import Journal
from emrlab.controller.market import settings_from_properties
from emrlab.controller.messages import ClusterCreated, StartCluster
from emrlab.controller.records import derived_id
from emrlab.controller.server import register_servicers
from emrlab.controller.shell import ControllerShell
from emrlab.controller.state import ControllerState
from emrlab_common.clusterdir import process_alive
from emrlab_common.config import load, parse_int
from emrlab_common.daemon import DaemonProcess
from emrlab_common.errors import FailedPrecondition
from emrlab_common.rpc import create_server
from emrlab_common.web import start_http_server

SHUTDOWN_GRACE_S = 1.0
ADDRESS_KEY = "emrlab.controller.address"


def controller_dir(cluster_dir):
    return cluster_dir.root / "controller"


def main(argv: list[str] | None = None) -> None:
    with DaemonProcess.start("emrlab.controller", argv) as process:
        process.stop_when_a_thread_crashes()
        directory = controller_dir(process.cluster_dir)
        use_table_from(process.properties)
        state = ControllerState(replication=parse_int(process.properties.get("dfs.replication", "3")))
        journal = Journal(directory)
        journal.load(state.apply)
        shell = ControllerShell(process.cluster_dir, process.properties, state, journal)
        if not state.cluster_id:
            _create(shell, directory)
        server, port = create_server(process.properties.get(ADDRESS_KEY, "127.0.0.1:0"), register_servicers(shell),
                                     name="controller")
        http_config = load(ControllerHttpConfig, process.properties)
        http_server, http_port = start_http_server(http_config.http_address, ControllerWeb(shell).routes(),
                                                   name="controller")
        process.publish(f"127.0.0.1:{port}", cluster_id=state.cluster_id,
                        http_address=f"{http_config.http_address.rsplit(':', 1)[0]}:{http_port}")
        shell.submit(StartCluster(processes_gone=not any(
            record.name != CONTROLLER and process_alive(record.pid) for record in process.cluster_dir.daemons())))
        monitor = threading.Thread(target=shell.run_monitor, name="monitor", daemon=True)
        monitor.start()
        while not process.stopping and not shell.stopped.is_set():
            time.sleep(0.2)
        http_server.stop()
        server.stop(SHUTDOWN_GRACE_S).wait()
        shell.stopped.set()
        monitor.join()
        shell.close()


def _create(shell: ControllerShell, directory) -> None:
    path = directory / "definition.json"
    if not path.exists():
        raise FailedPrecondition(f"no cluster definition in {path}: start clusters with `emrlab cluster up`")
    definition = parse_definition(json.loads(path.read_text()))
    now_s = time.time()
    cluster_id = derived_id("j-", shell.cluster_dir.root, now_s)
    created = ClusterCreated(cluster_id, definition.name, now_s, definition.keep_alive,
                             definition.termination_protected, definition.step_concurrency_level,
                             definition.idle_timeout_s, definition.bootstrap_actions, definition.groups,
                             tuple(derived_id("ig-", cluster_id, index) for index in range(len(definition.groups))),
                             settings_from_properties(shell.properties),
                             with_lab_timing(definition.scaling, shell.properties))
    with shell.lock:
        shell.state.create(created, definition.steps, now_s)
        shell.journal.append(shell.state.take_edits())
        shell.write_spec()


if __name__ == "__main__":
    main()
