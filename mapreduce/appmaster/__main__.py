"""The MapReduce ApplicationMaster process: `python -m mapreduce.appmaster`.

YARN starts it in the job's first container with the job's staging files
(`job.json`, the job's code) localized into its working directory. It
registers with the ResourceManager, serves the task umbilical and the client
protocol on one gRPC port, runs the job (`MRAppMaster`), and unregisters with
the job's final status. If its container dies, YARN starts it again (up to
`mapreduce.am.max-attempts`); attempt 2 on recovers from attempt 1's log.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from contextlib import closing
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import load
from emrlab_common.errors import EmrlabError
from emrlab_common.protos import mapreduce_pb2_grpc
from emrlab_common.rpc import create_server
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.containers import NoLongerCurrent
from mapreduce.appmaster.description import DESCRIPTION_FILE, JobDescription
from mapreduce.appmaster.master import SHUFFLE_SERVICE, MRAppMaster
from mapreduce.appmaster.records import JobState, application_id_for
from mapreduce.appmaster.server import MRClientServicer, TaskUmbilicalServicer, application_key
from mapreduce.appmaster.tracking import tracking_url
from mapreduce.task.umbilical import AM_ADDRESS_VARIABLE, JOB_TOKEN_VARIABLE, job_token
from mapreduce.task.yarnchild import configure_logging
from yarn.amclient import AMRMClient, NMClient
from yarn.client import YarnClient
from yarn.errors import ApplicationNotFound
from yarn.records import ContainerLaunchContext, FinalApplicationStatus

logger = logging.getLogger("mapreduce.appmaster")

TASK_COMMAND = "$EMRLAB_PYTHON -m mapreduce.task.yarnchild"
FINAL_STATUS = {JobState.SUCCEEDED: FinalApplicationStatus.SUCCEEDED, JobState.FAILED: FinalApplicationStatus.FAILED,
                JobState.KILLED: FinalApplicationStatus.KILLED}


def hadoop_environment(properties: dict) -> dict[str, str]:
    """Job configuration as environment variables, dots as underscores (Hadoop Streaming's convention)."""
    return {"".join(c if c.isalnum() or c == "_" else "_" for c in key): str(value)
            for key, value in properties.items()}


EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM: YARN is stopping this container."""


def _terminated(signum, frame) -> None:
    raise Terminated()


def application_ended(cluster_dir: ClusterDir, description: JobDescription) -> bool:
    """True if the ResourceManager has ended the application (killed it), not just this attempt, or no
    longer knows it (it restarted without yarn.resourcemanager.recovery.enabled: no attempt will follow)."""
    try:
        with YarnClient.for_cluster(cluster_dir, user=description.user) as yarn:
            return yarn.application_report(application_id_for(description.job_id)).state.is_final
    except ApplicationNotFound:
        return True
    except EmrlabError as error:
        logger.warning("cannot ask the ResourceManager about %s: %s", description.job_id, error.message)
        return False


def am_attempt_number(application_attempt_id: str) -> int:
    """appattempt_T_0001_000002 -> 2."""
    return int(application_attempt_id.rsplit("_", 1)[1])


def main() -> int:
    from hdfs import Client
    from mapreduce.api.fs import HdfsFileSystem

    configure_logging()
    description = JobDescription.from_json(Path(DESCRIPTION_FILE).read_text())
    cluster_dir = ClusterDir.resolve(os.environ.get("EMRLAB_CLUSTER"))
    properties = cluster_dir.properties()
    properties.update(description.properties)
    config = load(AppMasterConfig, properties)
    host = os.environ.get("NM_HOST", "127.0.0.1")
    client = Client.for_cluster(cluster_dir, user=description.user)
    # Closed when the AM ends, however it ends: the RM's channel and one per NodeManager it launched on.
    with closing(AMRMClient.from_environment()) as amrm, closing(NMClient()) as nm:
        address_holder: list[str] = []
        key = application_key()

        def task_launch_context(attempt_id: str) -> ContainerLaunchContext:
            environment = hadoop_environment(description.properties)
            environment[AM_ADDRESS_VARIABLE] = address_holder[0]
            if key is not None:  # token mode: the tasks' secret for calling us
                environment[JOB_TOKEN_VARIABLE] = job_token(key)
            return ContainerLaunchContext(commands=[TASK_COMMAND], environment=environment,
                                          local_resources=dict(description.local_resources),
                                          service_data={SHUFFLE_SERVICE: description.job_id.encode()})

        master = MRAppMaster(description, config, amrm=amrm, nm=nm, fs=HdfsFileSystem(client), hdfs_client=client,
                             task_launch_context=task_launch_context, properties=properties,
                             am_attempt=am_attempt_number(os.environ["APPLICATION_ATTEMPT_ID"]))

        def register(server) -> None:
            mapreduce_pb2_grpc.add_TaskUmbilicalServicer_to_server(TaskUmbilicalServicer(master), server)
            mapreduce_pb2_grpc.add_MRClientProtocolServicer_to_server(MRClientServicer(master), server)

        server, port = create_server(f"{host}:0", register, name="appmaster")
        address_holder.append(f"{host}:{port}")
        amrm.register(host, port, tracking_url=tracking_url(cluster_dir, description.job_id))  # the job's web page
        logger.info("%s: ApplicationMaster for %s serving on %s:%d", description.job_id, description.name, host, port)
        signal.signal(signal.SIGTERM, _terminated)
        try:
            state = master.run()
        except (Terminated, NoLongerCurrent):
            # YARN stops the container, or says this is no longer the current attempt: the application was
            # killed (clean up: nobody else will), or this attempt is replaced (leave all to the next one).
            # YARN's SIGKILL follows its SIGTERM within yarn.nodemanager.sleep-delay-before-sigkill.ms: be quick.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if application_ended(cluster_dir, description):
                logger.info("%s: the application was killed; aborting its output", description.job_id)
                master.abort_outputs()
                master.delete_staging_dir()
            else:
                logger.info("%s: stopped; a later AM attempt recovers the job", description.job_id)
            return EXIT_TERMINATED
        except BaseException as error:
            logger.exception("ApplicationMaster crashed")
            master.abort_outputs()  # it unregisters FAILED: no later attempt will clean up
            amrm.finish(FinalApplicationStatus.FAILED, f"ApplicationMaster crashed: {error}")
            raise
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # once the job is over, a stop is just a stop
            server.stop(1.0)
            client.close()
        amrm.finish(FINAL_STATUS[state], master.machine.diagnostics)
        logger.info("%s finished %s", description.job_id, state.value)
        return 0


if __name__ == "__main__":
    sys.exit(main())
