"""The ApplicationMaster's settings, under Hadoop's keys and (mostly) Hadoop's defaults.

Memory defaults are laptop-sized: Hadoop asks 1536 MB for the AM and 1024 MB
per task container; a 3-node cluster on a laptop would then run two tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import parse_bool, parse_float, parse_int, parse_milliseconds, parse_text, setting
from emrlab_common.errors import InvalidArgument
from mapreduce.task.config import reduce_memory_mb_setting
from yarn.resourcemanager.acls import MODIFY_APP, VIEW_APP

JOB_ACL_KEYS = ((VIEW_APP, "mapreduce.job.acl-view-job"), (MODIFY_APP, "mapreduce.job.acl-modify-job"))


def job_acls(properties: dict) -> dict[str, str]:
    """The job's ACLs as its application's (Hadoop's YARNRunner does the same), checked with yarn.acl.enable;
    unset: only the owner and the admins (Hadoop's default " ")."""
    return {operation: properties[key] for operation, key in JOB_ACL_KEYS if key in properties}


# When the follow-up heartbeats fall after a task ends or new asks go out (emrlab.am.scheduler.follow-up-heartbeats):
# YARN places a container at a NodeManager's heartbeat, which comes out of band tens of milliseconds after a
# container exits, or at the node's next periodic one.
FOLLOW_UP_DELAYS_S = (0.05, 0.2, 0.5)
_FOLLOW_UP_TEXT = ", ".join(f"{delay * 1000:.0f}" for delay in FOLLOW_UP_DELAYS_S)


def _parse_follow_ups(text: str) -> int:
    count = parse_int(text)
    if not 0 <= count <= len(FOLLOW_UP_DELAYS_S):
        raise InvalidArgument(f"{count} follow-up heartbeats: 0 to {len(FOLLOW_UP_DELAYS_S)} "
                              f"(the calls come {_FOLLOW_UP_TEXT} ms after)")
    return count


@dataclass(frozen=True)
class AppMasterConfig:
    map_attempts_max: int = setting(
        "mapreduce.map.maxattempts", 4, parse_int, "Failed attempts of a map task before the job fails.")
    reduce_attempts_max: int = setting(
        "mapreduce.reduce.maxattempts", 4, parse_int, "Failed attempts of a reduce task before the job fails.")
    reduce_slowstart_completed_maps: float = setting(
        "mapreduce.job.reduce.slowstart.completedmaps", 0.05, parse_float,
        "Fraction of a step's maps that must finish before its reducers are requested.")
    reducer_preempt_delay_s: float = setting(
        "mapreduce.job.reducer.preempt.delay.sec", 3.0, parse_float,
        "A map waiting this long for a container while YARN's headroom fits none and no map runs makes the AM "
        "kill a reducer for it (Hadoop: 0; here three heartbeats, so a container a map just gave back counts).")
    reducer_unconditional_preempt_delay_s: float = setting(
        "mapreduce.job.reducer.unconditional-preempt.delay.sec", 60.0, parse_float,
        "A map waiting this long for a container makes the AM kill a reducer for it, whatever the headroom "
        "says (Hadoop: 300; a lab job runs for about a minute). 0: at once; negative: never.")
    task_timeout_s: float = setting(
        "mapreduce.task.timeout", 600.0, parse_milliseconds,
        "An attempt that reports no progress for this long fails (0 disables).")
    fetch_failures_max: int = setting(
        "mapreduce.reduce.shuffle.notify.readerror.max", 3, parse_int,
        "Fetch failures reported by reducers before a finished map is declared failed and re-run.")
    killed_attempts_max: int = setting(
        "emrlab.task.killed-attempts.max", 16, parse_int,
        "Killed attempts (lost nodes, preemption) of one task before the job gives up on it.")
    scheduler_heartbeat_interval_s: float = setting(
        "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms", 1.0, parse_milliseconds,
        "How often the AM calls allocate on the ResourceManager.")
    follow_up_heartbeats: int = setting(
        "emrlab.am.scheduler.follow-up-heartbeats", len(FOLLOW_UP_DELAYS_S), _parse_follow_ups,
        f"Early allocate calls ({_FOLLOW_UP_TEXT} ms after, the first N of them, at most "
        f"{len(FOLLOW_UP_DELAYS_S)}) when a task ends or the AM asks for more while asks are outstanding, so a "
        "freed container is picked up before the interval ends (0: Hadoop's AM, which waits for the interval).")
    task_report_interval_s: float = setting(
        "mapreduce.task.progress-report.interval", 1.0, parse_milliseconds,
        "How often a task reports its progress (its heartbeat to the AM).")
    am_attempts_max: int = setting(
        "mapreduce.am.max-attempts", 2, parse_int,
        "Attempts of the job's ApplicationMaster YARN may start (capped by yarn.resourcemanager.am.max-attempts).")
    recovery_enabled: bool = setting(
        "yarn.app.mapreduce.am.job.recovery.enable", True, parse_bool,
        "A later AM attempt keeps the tasks the previous one finished instead of running them again.")
    am_memory_mb: int = setting(
        "yarn.app.mapreduce.am.resource.mb", 512, parse_int, "Memory of the AM's container.")
    map_memory_mb: int = setting("mapreduce.map.memory.mb", 512, parse_int, "Memory of a map container.")
    reduce_memory_mb: int = reduce_memory_mb_setting()
    queue: str = setting("mapreduce.job.queuename", "default", parse_text, "The YARN queue to submit to.")
