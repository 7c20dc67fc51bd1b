"""The ResourceManager's settings, with Hadoop's keys and defaults (where ours differ, the doc says why)."""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import parse_bool, parse_float, parse_int, parse_milliseconds, parse_seconds, parse_text, setting

FIFO, FAIR = "fifo", "fair"
SCHEDULER_CLASSES = {
    "fifo": FIFO,
    "fair": FAIR,
    "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler": FIFO,
    "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fair.FairScheduler": FAIR,
}


STORE_CLASSES = {
    "filesystem": "filesystem",
    "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore": "filesystem",
}


def _class_named(classes: dict[str, str], text: str, unknown: str) -> str:
    """Our short name, or Hadoop's class name for the same thing."""
    from emrlab_common.errors import InvalidArgument

    name = classes.get(text.strip()) or classes.get(text.strip().lower())
    if name is None:
        raise InvalidArgument(unknown)
    return name


def parse_store_class(text: str) -> str:
    return _class_named(STORE_CLASSES, text, f"unknown ResourceManager state store {text!r} (use filesystem, or "
                                             "Hadoop's FileSystemRMStateStore class)")


def parse_scheduler_class(text: str) -> str:
    return _class_named(SCHEDULER_CLASSES, text, f"unknown scheduler {text!r} (use fifo, fair, or Hadoop's "
                                                 "FifoScheduler/FairScheduler class)")


def parse_optional_bool(text: str) -> bool | None:
    return None if not str(text).strip() else parse_bool(text)


@dataclass(frozen=True)
class ResourceManagerConfig:
    address: str = setting(
        "yarn.resourcemanager.address", "127.0.0.1:0", parse_text,
        "Where the ResourceManager listens (all its protocols); port 0 picks a free one.")
    heartbeat_interval_s: float = setting(
        "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms", 1.0, parse_milliseconds,
        "How often NodeManagers heartbeat; each heartbeat is one scheduling opportunity on that node.")
    node_expiry_s: float = setting(
        "yarn.nm.liveness-monitor.expiry-interval-ms", 600.0, parse_milliseconds,
        "A NodeManager silent this long is LOST and its containers are reported lost (ABORTED).")
    am_expiry_s: float = setting(
        "yarn.am.liveness-monitor.expiry-interval-ms", 600.0, parse_milliseconds,
        "An ApplicationMaster that has not called allocate for this long has failed.")
    container_expiry_s: float = setting(
        "yarn.resourcemanager.rm.container-allocation.expiry-interval-ms", 600.0, parse_milliseconds,
        "A container handed to an ApplicationMaster but not started on its node within this long is taken "
        "back (ABORTED), so an AM cannot sit on room it does not use.")
    am_attempts_max: int = setting(
        "yarn.resourcemanager.am.max-attempts", 2, parse_int,
        "Attempts an application's ApplicationMaster gets (lost-node attempts do not count).")
    am_node_label: str = setting(
        "yarn.node-labels.am.default-node-label-expression", "CORE", parse_text,
        "ApplicationMasters run only on nodes with this label (EMR: CORE, since task nodes may vanish); "
        "empty = any node.")
    scheduler: str = setting(
        "yarn.resourcemanager.scheduler.class", FIFO, parse_scheduler_class,
        "fifo or fair (Hadoop's FifoScheduler / FairScheduler class names work too).")
    minimum_allocation_mb: int = setting(
        "yarn.scheduler.minimum-allocation-mb", 128, parse_int,
        "Container memory is rounded up to a multiple of this. Hadoop says 1024; Python tasks here need "
        "far less and a laptop node has 4096, so 128 lets a small cluster run many containers at once.")
    maximum_allocation_mb: int = setting(
        "yarn.scheduler.maximum-allocation-mb", 8192, parse_int, "The largest container memory one may ask for.")
    minimum_allocation_vcores: int = setting(
        "yarn.scheduler.minimum-allocation-vcores", 1, parse_int, "The smallest container vcores.")
    maximum_allocation_vcores: int = setting(
        "yarn.scheduler.maximum-allocation-vcores", 32, parse_int, "The largest container vcores.")
    locality_delay_opportunities: int = setting(
        "yarn.scheduler.capacity.node-locality-delay", -1, parse_int,
        "Delay scheduling: scheduling opportunities (node heartbeats) a request for given nodes lets pass "
        "before it may go to any node. -1 = the number of live nodes (one full round of heartbeats).",
        aliases=("yarn.scheduler.node-locality-delay",))
    assign_multiple: bool = setting(
        "yarn.scheduler.fair.assignmultiple", True, parse_bool,
        "Give several containers per node heartbeat, in both schedulers (Hadoop's default is false: one "
        "per heartbeat is slow for small jobs).")
    place_on_allocate: bool = setting(
        "emrlab.scheduler.place-on-allocate", True, parse_bool,
        "Place an application's new requests when its allocate brings them, on nodes with room now, as Hadoop's "
        "asynchronous scheduling places containers between heartbeats; the AM gets them in that allocate's "
        "answer. false: only at node heartbeats (Hadoop's default), up to a heartbeat interval later.")
    max_assign: int = setting(
        "yarn.scheduler.fair.max.assign", -1, parse_int, "With assignmultiple, at most this many (-1: as many as fit).")
    user_as_default_queue: bool = setting(
        "yarn.scheduler.fair.user-as-default-queue", False, parse_bool,
        "Fair: an application for queue 'default' goes to a queue named after its user.")
    queue_weights: str = setting(
        "yarn.scheduler.fair.queue-weights", "", parse_text,
        "Fair: queue weights as name=weight,... (emrlab's stand-in for the allocation file); "
        "unlisted queues weigh 1 and are created on first use.")
    max_am_share: float = setting(
        "yarn.scheduler.fair.maxAMShare", 0.5, parse_float,
        "The fraction of the cluster's memory ApplicationMasters may hold (a fair-scheduler key, applied "
        "by both schedulers here), so that AMs cannot fill the cluster and leave no room for their tasks; "
        "one AM may always start.")
    exclude_path: str = setting(
        "yarn.resourcemanager.nodes.exclude-path", "", parse_text,
        "File listing nodes to decommission (one id a line), read by `rmadmin -refreshNodes`; "
        "empty = <cluster dir>/yarn.exclude.")
    decommission_timeout_s: float = setting(
        "yarn.resourcemanager.nodemanager-graceful-decommission-timeout-secs", 3600.0, parse_seconds,
        "How long a gracefully DECOMMISSIONING node may wait for its containers before it is decommissioned anyway.")
    decommission_waits_for_applications: bool = setting(
        "yarn.resourcemanager.decommissioning-nodes-watcher.wait-for-applications", True, parse_bool,
        "A DECOMMISSIONING node also waits for the applications that ran containers on it to finish "
        "(their map output may still be fetched from it), up to the decommission timeout.")
    completed_applications_max: int = setting(
        "yarn.resourcemanager.max-completed-applications", 1000, parse_int,
        "Finished applications the RM remembers for reports.")
    recovery_enabled: bool = setting(
        "yarn.resourcemanager.recovery.enabled", False, parse_bool,
        "Keep applications and their attempts in a state store and reload them at start, so running "
        "applications survive an RM restart (Hadoop's default is false; `cluster up` turns it on, as EMR does).")
    store_class: str = setting(
        "yarn.resourcemanager.store.class", "filesystem", parse_store_class,
        "The state store: filesystem (Hadoop's FileSystemRMStateStore), one fsync'd file per application.")
    store_path: str = setting(
        "yarn.resourcemanager.fs.state-store.uri", "", parse_text,
        "The file-system state store's directory; empty = <cluster dir>/resourcemanager/rmstore.")
    work_preserving: bool = setting(
        "yarn.resourcemanager.work-preserving-recovery.enabled", True, parse_bool,
        "With recovery: running containers are kept and adopted from the NodeManagers' reports when they "
        "re-register, and running ApplicationMasters re-register (false: the RM kills what ran and starts "
        "a new attempt of each running application, Hadoop's non-work-preserving restart).")
    authentication: str = setting(
        "hadoop.security.authentication", "simple", parse_text,
        "simple: a caller is the user its call metadata names; token: a client call must carry a delegation "
        "token or a user statement signed with the cluster key (emrlab_common/credentials.py), and is its user.")
    acl_enable: bool | None = setting(
        "yarn.acl.enable", None, parse_optional_bool,
        "Check yarn.admin.acl and applications' VIEW_APP/MODIFY_APP ACLs. Unset: on in token mode (as EMR's "
        "security configurations turn it on), off in simple mode (Hadoop's default, false).")
    queue_submit_acls: str = setting(
        "emrlab.scheduler.acl-submit-applications", "", parse_text,
        "With ACLs on: who may submit to which queue, as queue=ACL;queue=ACL (Hadoop's per-queue "
        "acl_submit_applications / aclSubmitApps); a queue not named takes anyone's, admins submit anywhere.")
    admin_acl: str = setting(
        "yarn.admin.acl", "", parse_text,
        "Who may call rmadmin and kill or see any application, as Hadoop ACL text (\"alice,bob group\"; "
        "\"*\" everyone). Empty: the ResourceManager's own user, the cluster's owner (Hadoop says \"*\").")
