"""The `cluster` runner: the job runs on YARN and HDFS, as `hadoop jar` would run it.

    emrlab job run wordcount.py -r cluster hdfs:///in -o hdfs:///out --reducers 4

What the client does (Hadoop's JobSubmitter and Job.monitorAndPrintJob):
1. finds the cluster (--dir, $EMRLAB_CLUSTER, ~/.emrlab/cluster), checks that
   the input exists and the output does not, and that the job loads;
2. stages the job in HDFS under /tmp/hadoop-yarn/staging/<user>/.staging/<job id>/:
   its code (the job file) and `job.json` (inputs, output, arguments, -D);
3. submits the MapReduce ApplicationMaster as a YARN application and follows
   it: ` map X% reduce Y%` from the AM while it runs;
4. at the end reads the job history from HDFS: counters on success, the
   failing attempt's error and stderr tail on failure. Ctrl-C kills the job.
   If the application ended without the AM finishing the job (its last
   attempt was killed, or YARN killed the application), nobody else will
   clean up: the client aborts the job's output as the AM would (no
   `_temporary` stays) and removes the staging dir, and says so.

Paths without a scheme are HDFS paths here (HDFS is the cluster's default
file system, as on EMR); relative ones are under /user/<user>.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from emrlab_common import rpc
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import load, parse_milliseconds, setting
from emrlab_common.errors import EmrlabError, InvalidArgument, NotFound
from emrlab_common.hooks import job_finished_lines
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc
from mapreduce.api.counters import Counters
from mapreduce.api.errors import JobFailed, JobKilled
from mapreduce.api.fs import HDFS_SCHEME, HdfsFileSystem
from mapreduce.api.spec import JobResult, JobSpec
from mapreduce.appmaster.config import AppMasterConfig, job_acls
from mapreduce.appmaster.description import APPLICATION_TYPE, DESCRIPTION_FILE, JobDescription, staging_dir
from mapreduce.appmaster.history import JOB_STATE_WIRE, read_history
from mapreduce.appmaster.plan import check_output_absent, client_job, with_support_files
from mapreduce.appmaster.records import JobState, application_id_for, job_id_for, step_job_id
from mapreduce.runners.monitor import JobMonitor
from mapreduce.runners.submission import check_job
from mapreduce.streaming.streamjob import ARCHIVES_KEY, FILES_KEY, shipped
from mapreduce.task.output import FileOutputCommitter
from mapreduce.task.splits import input_files
from yarn.errors import ApplicationNotFound
from yarn.records import FinalApplicationStatus
from yarn.resourcemanager.acls import client_to_am_metadata

AM_COMMAND = "$EMRLAB_PYTHON -m mapreduce.appmaster"
HISTORY_POLL_S = 0.2
AM_CALL_TIMEOUT_S = 10.0
AM_STDERR_TAIL_BYTES = 4096
FINAL_JOB_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED)


@dataclass(frozen=True)
class ClientConfig:
    poll_interval_s: float = setting(
        "mapreduce.client.progressmonitor.pollinterval", 1.0, parse_milliseconds,
        "How often the client asks the AM for the job's progress.")
    rm_connect_wait_s: float = setting(
        "yarn.resourcemanager.connect.max-wait.ms", 60.0, parse_milliseconds,
        "How long the client keeps trying a ResourceManager that is down (restarting, with recovery) before "
        "it gives up. Hadoop waits 15 minutes; a lab's RM restarts in seconds.")


class ClusterRunner:
    name = "cluster"

    def run(self, spec: JobSpec, monitor: JobMonitor | None = None) -> JobResult:
        from hdfs import Client
        from yarn.client import YarnClient

        monitor = monitor or JobMonitor()
        cluster_dir = ClusterDir.resolve(spec.cluster_dir)
        properties = cluster_dir.properties()
        properties.update(spec.properties)
        started = time.monotonic()
        with Client.for_cluster(cluster_dir) as hdfs, YarnClient.for_cluster(cluster_dir) as yarn:
            # Fully qualified, as Hadoop's FileInputFormat hands them to tasks (mapreduce.map.input.file).
            output_dir = HDFS_SCHEME + hdfs.resolve(spec.output_dir)
            input_paths = tuple(HDFS_SCHEME + hdfs.resolve(path) for path in spec.input_paths)
            check_paths(hdfs, input_paths, output_dir)
            job = client_job(spec)
            check_job(job, spec)
            spec = with_support_files(job, spec)
            application_id = yarn.new_application()
            job_id = job_id_for(application_id)
            description = stage(hdfs, spec, job_id, input_paths, output_dir)
            submit(yarn, description, properties, spec.job_name or type(job).__name__)
            monitor.info(f"Submitted application {application_id}")
            monitor.job_started(job_id)
            client_config = load(ClientConfig, properties)
            yarn.connect_wait_s = client_config.rm_connect_wait_s
            try:
                follow(yarn, application_id, job_id, monitor, client_config.poll_interval_s)
                summary = wait_for_history(hdfs, yarn, application_id, job_id, cluster_dir)
            except KeyboardInterrupt:
                kill_job(yarn, application_id, job_id, hdfs)
                monitor.info(f"Killed job {job_id}")
                raise
            except ApplicationNotFound:  # a ResourceManager restarted without recovery: nobody else cleans up
                clean_up_after_am(hdfs, description, monitor)
                lost = (f"Job {job_id} failed: application {application_id} is lost: the ResourceManager restarted "
                        "without yarn.resourcemanager.recovery.enabled and no longer knows it")
                raise JobFailed(lost) from None
            if summary.get("am_did_not_finish"):
                clean_up_after_am(hdfs, description, monitor)
        job_ids = tuple(step_job_id(job_id, index) for index in range(summary.get("step_count", 1)))
        counters = Counters(summary.get("counters", {}))
        state = JobState(summary.get("state", JobState.FAILED.value))  # the history holds its name
        if state is JobState.SUCCEEDED:
            monitor.job_succeeded(job_id, counters)
            for line in job_finished_lines(str(cluster_dir.root), summary):  # resolved: --dir, $EMRLAB_CLUSTER...
                monitor.info(line)
            return JobResult(job_ids, spec.output_dir, counters, elapsed_s=time.monotonic() - started)
        message = summary.get("diagnostics") or "the job did not succeed"
        monitor.job_failed(job_id, message, counters)
        if state is JobState.KILLED:
            raise JobKilled(f"Job {job_id} was killed: {message}")
        raise JobFailed(f"Job {job_id} failed: {message}")


def check_paths(hdfs, input_paths: tuple[str, ...], output_dir: str) -> None:
    fs = HdfsFileSystem(hdfs)
    input_files(fs, list(input_paths))
    check_output_absent(fs, output_dir)


def stage(hdfs, spec: JobSpec, job_id: str, input_paths: tuple[str, ...], output_dir: str) -> JobDescription:
    """Copy the job's code and description into its staging dir; returns the description."""
    directory = staging_dir(hdfs.user, job_id)
    hdfs.mkdirs(directory, permission=0o700)
    location, separator, class_name = spec.job_reference.rpartition(":")
    local_resources = {}
    job_reference = spec.job_reference
    if location.endswith(".py"):
        if not os.path.isfile(location):
            raise NotFound(f"job file {location} does not exist")
        job_file = os.path.basename(location)  # its own name, so that tracebacks name the user's file
        hdfs.upload(location, f"{directory}/{job_file}")
        local_resources[job_file] = f"hdfs://{directory}/{job_file}"
        job_reference = f"{job_file}{separator}{class_name}"
    properties = dict(spec.properties)
    if properties.get(FILES_KEY):
        properties[FILES_KEY] = stage_files(hdfs, directory, properties[FILES_KEY], local_resources)
    if properties.get(ARCHIVES_KEY):
        properties[ARCHIVES_KEY] = stage_archives(hdfs, directory, properties[ARCHIVES_KEY], local_resources)
    description = JobDescription(
        job_id=job_id, name=spec.job_name, user=hdfs.user, job_reference=job_reference, input_paths=input_paths,
        output_dir=output_dir, staging_dir=directory, job_arguments=tuple(spec.job_arguments),
        properties=properties, local_resources=local_resources)
    hdfs.write_bytes(f"{directory}/{DESCRIPTION_FILE}", description.to_json().encode())
    return description


def stage_files(hdfs, directory: str, files: str, local_resources: dict) -> str:
    """Shipped files (`path[#name]`: -file, -files, mrjob's FILES), as Hadoop's distributed
    cache: copied to the staging dir, localized by YARN into every task's working dir;
    tasks find them there by name. A directory (mrjob's DIRS) is staged whole."""
    names = []
    for path, name in shipped(files):
        _claim(name, path, local_resources)
        if path.startswith("hdfs://"):
            local_resources[name] = path
        else:
            if not os.path.exists(path):
                raise NotFound(f"-file {path}: no such file")
            _upload(hdfs, path, f"{directory}/files/{name}")
            local_resources[name] = f"hdfs://{directory}/files/{name}"
        names.append(name)
    return ",".join(names)


def stage_archives(hdfs, directory: str, archives: str, local_resources: dict) -> str:
    """-archives (`path[#name]`): staged and localized as files, unpacked by each task under `name`."""
    entries = []
    for path, name in shipped(archives):
        resource = "archive-" + os.path.basename(path)
        _claim(resource, path, local_resources)
        if path.startswith("hdfs://"):
            local_resources[resource] = path
        else:
            if not os.path.isfile(path):
                raise NotFound(f"-archives {path}: no such file")
            hdfs.upload(path, f"{directory}/archives/{os.path.basename(path)}")
            local_resources[resource] = f"hdfs://{directory}/archives/{os.path.basename(path)}"
        entries.append(f"{resource}#{name}")
    return ",".join(entries)


def _claim(name: str, path: str, local_resources: dict) -> None:
    if name in local_resources or name == DESCRIPTION_FILE:
        raise InvalidArgument(f"{path}: two shipped files named {name} (rename one with #NAME)")


def _upload(hdfs, path: str, target: str) -> None:
    if not os.path.isdir(path):
        hdfs.upload(path, target)
        return
    for root, _, files in os.walk(path):
        relative = os.path.relpath(root, path)
        destination = target if relative == "." else f"{target}/{relative}"
        hdfs.mkdirs(destination)
        for file_name in files:
            hdfs.upload(os.path.join(root, file_name), f"{destination}/{file_name}")


def submit(yarn, description: JobDescription, properties: dict, name: str) -> None:
    from yarn.records import ApplicationSubmissionContext, ContainerLaunchContext, Resource

    config = load(AppMasterConfig, properties)
    if config.am_attempts_max < 1:
        raise InvalidArgument(f"mapreduce.am.max-attempts must be at least 1, not {config.am_attempts_max}")
    resources = dict(description.local_resources)
    resources[DESCRIPTION_FILE] = f"hdfs://{description.staging_dir}/{DESCRIPTION_FILE}"
    am_container = ContainerLaunchContext(commands=[AM_COMMAND], local_resources=resources,
                                          application_acls=job_acls(properties))
    yarn.submit_application(ApplicationSubmissionContext(
        application_id=application_id_for(description.job_id), name=name, am_container=am_container,
        resource=Resource(config.am_memory_mb, 1), queue=config.queue, application_type=APPLICATION_TYPE,
        max_app_attempts=config.am_attempts_max))


def am_report(report, job_id: str, include_attempts: bool = False) -> mapreduce_pb2.GetJobReportResponse:
    """The job's report from its AM, at the address in the application's `report` (with, in secure mode,
    the client-to-AM token the ResourceManager put in it for this caller)."""
    channel = rpc.connect(report.am_address)
    try:
        stub = mapreduce_pb2_grpc.MRClientProtocolStub(channel)
        return rpc.call(stub.GetJobReport, mapreduce_pb2.GetJobReportRequest(
            job_id=job_id, include_attempts=include_attempts), timeout_s=AM_CALL_TIMEOUT_S,
            metadata=client_to_am_metadata(report.client_to_am_token), peer=f"the ApplicationMaster of {job_id}")
    finally:
        channel.close()


def follow(yarn, application_id: str, job_id: str, monitor: JobMonitor, poll_interval_s: float) -> None:
    """Print progress until the application ends."""
    while True:
        report = yarn.application_report(application_id)
        if report.state.is_final:
            return
        if report.am_address:
            try:
                job_report = am_report(report, job_id)
                monitor.progress(job_report.map_progress, job_report.reduce_progress)
                if JOB_STATE_WIRE.from_proto(job_report.state, "GetJobReportResponse.state") in FINAL_JOB_STATES:
                    return
            except EmrlabError:
                pass  # the AM is starting or finishing; YARN's report decides
        time.sleep(poll_interval_s)


def clean_up_after_am(hdfs, description: JobDescription, monitor: JobMonitor) -> None:
    """The AM's abortJob, done by the client: the application ended and no AM attempt finished the job."""
    fs = HdfsFileSystem(hdfs)
    try:
        FileOutputCommitter(fs, description.output_dir).abort_job()
        fs.delete(description.staging_dir, recursive=True)  # with it, the recovery log and steps' outputs
    except EmrlabError as error:
        monitor.info(f"could not clean up after {description.job_id}: {error.message}")
        return
    monitor.info(f"The ApplicationMaster of {description.job_id} ended without finishing the job; "
                 f"the client removed its output {description.output_dir} and staging dir")


def kill_job(yarn, application_id: str, job_id: str, hdfs=None) -> None:
    """Ask the AM to kill the job (it then records the history and aborts the output); else kill the
    application, and with `hdfs` abort the output too (no AM may be left to do it: say, between attempts)."""
    report = yarn.application_report(application_id)
    if report.state.is_final:
        return
    if report.am_address:
        channel = rpc.connect(report.am_address)
        try:
            stub = mapreduce_pb2_grpc.MRClientProtocolStub(channel)
            rpc.call(stub.KillJob, mapreduce_pb2.KillJobRequest(job_id=job_id), timeout_s=AM_CALL_TIMEOUT_S,
                     metadata=client_to_am_metadata(report.client_to_am_token))
            return
        except EmrlabError:
            pass  # the ResourceManager decides (and says why not: the caller may not MODIFY_APP, say)
        finally:
            channel.close()
    yarn.kill_application(application_id, f"Kill job {job_id} received from the client")
    if hdfs is not None:
        try:
            description = JobDescription.from_json(
                hdfs.read_bytes(f"{staging_dir(hdfs.user, job_id)}/{DESCRIPTION_FILE}").decode())
        except EmrlabError:
            return  # staged by another user, or already cleaned up
        clean_up_after_am(hdfs, description, JobMonitor(quiet=True))


def wait_for_history(hdfs, yarn, application_id: str, job_id: str, cluster_dir=None) -> dict:
    """The job's history once the AM wrote it; YARN's diagnostics (and the last line of the AM's
    stderr, where the reason is) if the AM ended without it."""
    while True:
        try:
            return read_history(hdfs, job_id)
        except NotFound:
            report = yarn.application_report(application_id)
            if report.state.is_final:
                try:
                    return read_history(hdfs, job_id)
                except NotFound:
                    killed = report.final_status is FinalApplicationStatus.KILLED
                    diagnostics = report.diagnostics or f"application {application_id} ended {report.state.value}"
                    if not killed and cluster_dir is not None:
                        diagnostics += am_stderr_end(cluster_dir, yarn, application_id)
                    state = JobState.KILLED if killed else JobState.FAILED
                    return {"state": state.value, "counters": {}, "am_did_not_finish": True,
                            "diagnostics": diagnostics}
            time.sleep(HISTORY_POLL_S)


def am_stderr_end(cluster_dir, yarn, application_id: str) -> str:
    """"; the ApplicationMaster said: LAST LINE" from the AM container's stderr, or "" if unreadable."""
    from yarn.containerlogs import gather_logs

    try:
        files = gather_logs(cluster_dir, yarn.nodes(), application_id, bytes_max=AM_STDERR_TAIL_BYTES)
    except EmrlabError:
        return ""
    for log in files:  # the AM's container is the application's first
        if log.name == "stderr" and log.container_id.endswith("_000001"):
            lines = [line for line in log.content.decode("utf-8", "replace").splitlines() if line.strip()]
            return f"; the ApplicationMaster said: {lines[-1].strip()}" if lines else ""
    return ""
