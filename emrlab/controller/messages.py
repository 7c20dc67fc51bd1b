"""The messages between the controller's state machine and its shell: events in, edits kept, commands out.

Events are what the shell tells the state machine (an RPC arrived, an instance
started, a step's process exited). Edits are the durable changes the machine
makes in response; they go into the journal and `ControllerState.apply`
replays them at start. Commands are what the machine asks the shell to do
(launch an instance, start a step). All are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab.controller.market import SpotSettings
from emrlab.controller.records import (
    BootstrapAction,
    ClusterState,
    GroupDefinition,
    InstanceGroupState,
    InstanceReason,
    InstanceState,
    ManagedScalingPolicy,
    Reason,
    Role,
    StepDefinition,
    StepState,
)

# ---------------------------------------------------------------- events (from the shell)


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class StartCluster(Event):
    """The controller started (first time or again after `cluster down` / a crash)."""

    processes_gone: bool = False  # no daemon of the cluster runs (a crash, then `cluster down`)


@dataclass(frozen=True)
class InstanceProvisioned(Event):
    instance_id: str


@dataclass(frozen=True)
class InstanceStarted(Event):
    instance_id: str


@dataclass(frozen=True)
class InstanceFailed(Event):
    instance_id: str
    code: InstanceReason
    message: str


@dataclass(frozen=True)
class InstanceStopped(Event):
    """The shell finished a TerminateInstance (processes gone, data directory removed)."""

    instance_id: str


@dataclass(frozen=True)
class InstanceDecommissioned(Event):
    instance_id: str


@dataclass(frozen=True)
class ClusterHealthy(Event):
    pass


@dataclass(frozen=True)
class StepExited(Event):
    step_id: str
    exit_code: int | None   # None: the step's process is gone and left no exit status


@dataclass(frozen=True)
class AddSteps(Event):
    steps: tuple[StepDefinition, ...]


@dataclass(frozen=True)
class CancelSteps(Event):
    step_ids: tuple[str, ...]


@dataclass(frozen=True)
class ResizeGroup(Event):
    instance_group_id: str
    count: int
    decommission_timeout_s: float


@dataclass(frozen=True)
class SetTerminationProtection(Event):
    protected: bool


@dataclass(frozen=True)
class Terminate(Event):
    """`emrlab cluster terminate`: the user ends the cluster."""


@dataclass(frozen=True)
class StopCluster(Event):
    """`emrlab cluster down`: stop every process, keep the cluster for the next `up`."""


@dataclass(frozen=True)
class InterruptInstances(Event):
    """`emrlab spot interrupt`: a notice now for these spot instances, or for `count` of a group's."""

    instance_ids: tuple[str, ...] = ()
    instance_group_id: str = ""
    count: int = 0


@dataclass(frozen=True)
class PutScalingPolicy(Event):
    """`emrlab cluster put-managed-scaling-policy` (None: remove it)."""

    policy: ManagedScalingPolicy | None


@dataclass(frozen=True)
class YarnLoad(Event):
    """What managed scaling looks at, as the shell read it from the ResourceManager."""

    pending_containers: int
    busy_nodes: tuple[str, ...]


@dataclass(frozen=True)
class Tick(Event):
    pass


# ---------------------------------------------------------------- edits (journaled; replayed by apply)


@dataclass(frozen=True)
class ClusterCreated:
    cluster_id: str
    name: str
    time_s: float
    keep_alive: bool
    termination_protected: bool
    step_concurrency_level: int
    idle_timeout_s: float | None
    bootstrap_actions: tuple[BootstrapAction, ...]
    groups: tuple[GroupDefinition, ...]
    group_ids: tuple[str, ...]
    spot: SpotSettings = SpotSettings()
    scaling: ManagedScalingPolicy | None = None


@dataclass(frozen=True)
class ClusterStateChanged:
    state: ClusterState
    reason: Reason
    time_s: float


@dataclass(frozen=True)
class GroupChanged:
    instance_group_id: str
    state: InstanceGroupState
    requested_instance_count: int
    launched: int


@dataclass(frozen=True)
class InstanceAdded:
    instance_id: str
    instance_group_id: str
    node_name: str
    time_s: float
    launch_number: int = 0
    fulfill_at_s: float | None = None


@dataclass(frozen=True)
class ScalingPolicyChanged:
    policy: ManagedScalingPolicy | None


@dataclass(frozen=True)
class SpotNoticed:
    instance_id: str
    time_s: float


@dataclass(frozen=True)
class InstanceChanged:
    instance_id: str
    state: InstanceState
    reason: Reason
    time_s: float
    decommissioning: bool = False


@dataclass(frozen=True)
class StepAdded:
    step_id: str
    definition: StepDefinition
    time_s: float


@dataclass(frozen=True)
class StepChanged:
    step_id: str
    state: StepState
    reason: Reason
    time_s: float
    exit_code: int | None = None


@dataclass(frozen=True)
class ProtectionChanged:
    protected: bool


@dataclass(frozen=True)
class StoppedChanged:
    stopped: bool
    time_s: float


@dataclass(frozen=True)
class IdleSince:
    time_s: float | None


# ---------------------------------------------------------------- commands (to the shell)


@dataclass(frozen=True)
class Command:
    pass


@dataclass(frozen=True)
class LaunchInstance(Command):
    """Make the instance's disk, run the bootstrap actions, start its daemons (report each stage)."""

    instance_id: str
    node_name: str
    role: Role
    instance_type: str
    bootstrap_actions: tuple[BootstrapAction, ...]
    restart: bool = False  # the instance existed before `cluster down`: its disk stays, no bootstrap


@dataclass(frozen=True)
class WaitHealthy(Command):
    """Wait until HDFS and YARN see every running instance, then prepare HDFS on first start."""

    first_start: bool


@dataclass(frozen=True)
class DecommissionInstance(Command):
    """Gracefully take the instance out of YARN (and HDFS for core nodes), then report it decommissioned."""

    instance_id: str
    node_name: str
    role: Role
    timeout_s: float


@dataclass(frozen=True)
class TerminateInstance(Command):
    """Stop the instance's processes and remove its data directory (its logs stay)."""

    instance_id: str
    node_name: str
    remove_data: bool = True


@dataclass(frozen=True)
class SpotNotice(Command):
    """Tell the instance (its instance-action file) and start a graceful decommission that must end by the deadline."""

    instance_id: str
    node_name: str
    role: Role
    notice_s: float
    deadline_s: float


@dataclass(frozen=True)
class KillInstance(Command):
    """EC2 takes the instance back: every process SIGKILLed, no goodbye; then clean up as TerminateInstance does."""

    instance_id: str
    node_name: str


@dataclass(frozen=True)
class StartStep(Command):
    step_id: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class CancelStep(Command):
    step_id: str


@dataclass(frozen=True)
class WatchStep(Command):
    """After a restart: a step was RUNNING; adopt its process if it is still alive, else read its exit status."""

    step_id: str


@dataclass(frozen=True)
class StopController(Command):
    """Every instance is stopped (down) or terminated: the controller process may exit."""
