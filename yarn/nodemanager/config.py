"""The NodeManager's settings, with Hadoop's keys and defaults (where ours differ, the doc says why)."""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import parse_bool, parse_int, parse_milliseconds, parse_seconds, parse_text, setting


@dataclass(frozen=True)
class NodeManagerConfig:
    address: str = setting(
        "yarn.nodemanager.address", "127.0.0.1:0", parse_text,
        "Where the NodeManager serves ContainerManagementProtocol and its aux services; port 0 picks a free one.")
    memory_mb: int = setting(
        "yarn.nodemanager.resource.memory-mb", 4096, parse_int,
        "Memory this node offers to containers. Hadoop's default is 8192; 4096 fits a laptop.")
    vcores: int = setting("yarn.nodemanager.resource.cpu-vcores", 4, parse_int, "Virtual cores this node offers.")
    node_label: str = setting(
        "yarn.nodemanager.node-labels.provider.configured-node-partition", "", parse_text,
        "This node's label; empty = its node group in the cluster spec (CORE or TASK), as EMR labels nodes.")
    local_dirs: str = setting(
        "yarn.nodemanager.local-dirs", "", parse_text,
        "Where container working dirs and localized files live; empty = <node dir>/nm-local-dir.")
    log_dirs: str = setting(
        "yarn.nodemanager.log-dirs", "", parse_text,
        "Where container stdout/stderr go (<dir>/<application>/<container>/); empty = <node dir>/userlogs. "
        "Kept after the application ends, for `emrlab logs`.")
    heartbeat_interval_s: float = setting(
        "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms", 1.0, parse_milliseconds,
        "How often this node heartbeats to the ResourceManager.")
    sigkill_delay_s: float = setting(
        "yarn.nodemanager.sleep-delay-before-sigkill.ms", 0.25, parse_milliseconds,
        "A container being stopped gets SIGTERM, then SIGKILL after this long.")
    monitor_interval_s: float = setting(
        "yarn.nodemanager.container-monitor.interval-ms", 3.0, parse_milliseconds,
        "How often each container's process tree memory (RSS, from /proc) is measured.")
    pmem_check_enabled: bool = setting(
        "yarn.nodemanager.pmem-check-enabled", True, parse_bool,
        "Kill a container whose process tree uses more physical memory than it was given.")
    aux_services: str = setting(
        "yarn.nodemanager.aux-services", "", parse_text,
        "Auxiliary services to load, NAME[,NAME]; each needs yarn.nodemanager.aux-services.NAME.class="
        "package.module:ClassName (MapReduce's shuffle is one).")
    health_script: str = setting(
        "yarn.nodemanager.health-checker.script.path", "", parse_text,
        "A script whose output line starting with ERROR marks this node UNHEALTHY; empty = only disk checks.")
    health_interval_s: float = setting(
        "yarn.nodemanager.health-checker.interval-ms", 600.0, parse_milliseconds, "How often the health script runs.")
    health_timeout_s: float = setting(
        "yarn.nodemanager.health-checker.script.timeout-ms", 1200.0, parse_milliseconds,
        "A health script running longer than this marks the node UNHEALTHY.")
    delete_delay_s: float = setting(
        "yarn.nodemanager.delete.debug-delay-sec", 0.0, parse_seconds,
        "Keep a finished application's working dirs this long (for debugging) before deleting them.")
    container_executor: str = setting(
        "yarn.nodemanager.container-executor.class", "DefaultContainerExecutor", parse_text,
        "DefaultContainerExecutor: containers run as the NodeManager's own account. LinuxContainerExecutor "
        "(`cluster up --secure`): each runs as its user's OS account, in directories only that user can read.")
    authentication: str = setting(
        "hadoop.security.authentication", "simple", parse_text,
        "simple: a container is the user its launch names; token: the user of the delegation token in its "
        "launch context (ContainerLaunchContext tokens), and one without a valid token is refused.")
    nonsecure_limit_users: bool = setting(
        "yarn.nodemanager.linux-container-executor.nonsecure-mode.limit-users", True, parse_bool,
        "LinuxContainerExecutor in simple mode: run every container as nonsecure-mode.local-user, not as its user.")
    nonsecure_local_user: str = setting(
        "yarn.nodemanager.linux-container-executor.nonsecure-mode.local-user", "nobody", parse_text,
        "The account containers run as under LinuxContainerExecutor in simple mode with limit-users.")
    min_user_id: int = setting(
        "min.user.id", 1000, parse_int,
        "container-executor.cfg's: no container runs as an account below this uid (system accounts).")
    banned_users: str = setting(
        "banned.users", "yarn,hdfs,mapred,bin", parse_text,
        "container-executor.cfg's: accounts no container runs as, whatever their uid (root never does).")
    allowed_system_users: str = setting(
        "allowed.system.users", "", parse_text,
        "container-executor.cfg's: accounts below min.user.id that containers may run as all the same.")
