"""The cluster controller's nouns, states, edits and commands, in EMR's words.

Lifecycles are EMR's (DescribeCluster, ListInstances, ListSteps), each an enum
with a (state, event) -> state table driven by `emrlab_common.lifecycle`:

    cluster         STARTING -> BOOTSTRAPPING -> RUNNING <-> WAITING -> TERMINATING -> TERMINATED[_WITH_ERRORS]
    instance group  PROVISIONING -> BOOTSTRAPPING -> RUNNING <-> RESIZING -> TERMINATED
    instance        AWAITING_FULFILLMENT -> PROVISIONING -> BOOTSTRAPPING -> RUNNING -> TERMINATED
    step            PENDING -> RUNNING -> COMPLETED | FAILED | CANCELLED | INTERRUPTED (CANCEL_PENDING between)

Three kinds of record live here. Events are what the shell tells the state
machine (an RPC arrived, an instance started, a step's process exited).
Edits are the durable changes the machine makes in response; they go into the
journal and `ControllerState.apply` replays them at start. Commands are what
the machine asks the shell to do (launch an instance, start a step).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from emrlab.controller.market import SPOT_TERMINATION, SpotSettings

# ---------------------------------------------------------------- states


class ClusterState(enum.Enum):
    STARTING = "STARTING"
    BOOTSTRAPPING = "BOOTSTRAPPING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    TERMINATED_WITH_ERRORS = "TERMINATED_WITH_ERRORS"


class ClusterEvent(enum.Enum):
    BOOTSTRAP_STARTED = "BOOTSTRAP_STARTED"
    READY = "READY"                    # every first instance is up and HDFS and YARN are healthy
    STEP_STARTED = "STEP_STARTED"
    STEPS_DONE = "STEPS_DONE"          # no step pending or running
    TERMINATE = "TERMINATE"
    TERMINATE_WITH_ERRORS = "TERMINATE_WITH_ERRORS"
    INSTANCES_STOPPED = "INSTANCES_STOPPED"


CLUSTER_TRANSITIONS = {
    (ClusterState.STARTING, ClusterEvent.BOOTSTRAP_STARTED): ClusterState.BOOTSTRAPPING,
    (ClusterState.BOOTSTRAPPING, ClusterEvent.READY): ClusterState.RUNNING,
    (ClusterState.RUNNING, ClusterEvent.STEPS_DONE): ClusterState.WAITING,
    (ClusterState.WAITING, ClusterEvent.STEP_STARTED): ClusterState.RUNNING,
    **{(state, ClusterEvent.TERMINATE): ClusterState.TERMINATING
       for state in (ClusterState.STARTING, ClusterState.BOOTSTRAPPING, ClusterState.RUNNING, ClusterState.WAITING)},
    **{(state, ClusterEvent.TERMINATE_WITH_ERRORS): ClusterState.TERMINATING
       for state in (ClusterState.STARTING, ClusterState.BOOTSTRAPPING, ClusterState.RUNNING, ClusterState.WAITING)},
}
# Where TERMINATING ends depends on why it began (the reason is kept beside the state).
TERMINAL_CLUSTER_STATES = frozenset({ClusterState.TERMINATED, ClusterState.TERMINATED_WITH_ERRORS})
ALIVE_CLUSTER_STATES = frozenset({ClusterState.STARTING, ClusterState.BOOTSTRAPPING, ClusterState.RUNNING,
                                  ClusterState.WAITING})


class ClusterReason(enum.Enum):
    """EMR's ClusterStateChangeReason codes (the ones that can happen here)."""

    INTERNAL_ERROR = "INTERNAL_ERROR"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INSTANCE_FAILURE = "INSTANCE_FAILURE"
    BOOTSTRAP_FAILURE = "BOOTSTRAP_FAILURE"
    USER_REQUEST = "USER_REQUEST"
    STEP_FAILURE = "STEP_FAILURE"
    ALL_STEPS_COMPLETED = "ALL_STEPS_COMPLETED"


class InstanceGroupState(enum.Enum):
    PROVISIONING = "PROVISIONING"
    BOOTSTRAPPING = "BOOTSTRAPPING"
    RUNNING = "RUNNING"
    RESIZING = "RESIZING"
    TERMINATED = "TERMINATED"


class InstanceState(enum.Enum):
    AWAITING_FULFILLMENT = "AWAITING_FULFILLMENT"
    PROVISIONING = "PROVISIONING"
    BOOTSTRAPPING = "BOOTSTRAPPING"
    RUNNING = "RUNNING"
    TERMINATED = "TERMINATED"


class InstanceEvent(enum.Enum):
    FULFILLED = "FULFILLED"            # the market gave us the capacity
    PROVISIONED = "PROVISIONED"        # its directory (its disk) exists; bootstrap actions run next
    DAEMONS_STARTED = "DAEMONS_STARTED"
    TERMINATE = "TERMINATE"


INSTANCE_TRANSITIONS = {
    (InstanceState.AWAITING_FULFILLMENT, InstanceEvent.FULFILLED): InstanceState.PROVISIONING,
    (InstanceState.PROVISIONING, InstanceEvent.PROVISIONED): InstanceState.BOOTSTRAPPING,
    (InstanceState.BOOTSTRAPPING, InstanceEvent.DAEMONS_STARTED): InstanceState.RUNNING,
    **{(state, InstanceEvent.TERMINATE): InstanceState.TERMINATED
       for state in (InstanceState.AWAITING_FULFILLMENT, InstanceState.PROVISIONING, InstanceState.BOOTSTRAPPING,
                     InstanceState.RUNNING)},
}


class InstanceReason(enum.Enum):
    """EMR's InstanceStateChangeReason codes."""

    INTERNAL_ERROR = "INTERNAL_ERROR"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INSTANCE_FAILURE = "INSTANCE_FAILURE"
    BOOTSTRAP_FAILURE = "BOOTSTRAP_FAILURE"
    CLUSTER_TERMINATED = "CLUSTER_TERMINATED"


class StepState(enum.Enum):
    PENDING = "PENDING"
    CANCEL_PENDING = "CANCEL_PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"


class StepEvent(enum.Enum):
    START = "START"
    CANCEL = "CANCEL"          # the user asked; a pending step is cancelled at once
    CANCEL_RUNNING = "CANCEL_RUNNING"
    EXITED_OK = "EXITED_OK"
    EXITED_FAILED = "EXITED_FAILED"
    LOST = "LOST"              # its process vanished without an exit status (a crash of the primary node)


STEP_TRANSITIONS = {
    (StepState.PENDING, StepEvent.START): StepState.RUNNING,
    (StepState.PENDING, StepEvent.CANCEL): StepState.CANCELLED,
    (StepState.RUNNING, StepEvent.CANCEL_RUNNING): StepState.CANCEL_PENDING,
    (StepState.RUNNING, StepEvent.EXITED_OK): StepState.COMPLETED,
    (StepState.RUNNING, StepEvent.EXITED_FAILED): StepState.FAILED,
    (StepState.RUNNING, StepEvent.LOST): StepState.INTERRUPTED,
    (StepState.CANCEL_PENDING, StepEvent.EXITED_OK): StepState.CANCELLED,
    (StepState.CANCEL_PENDING, StepEvent.EXITED_FAILED): StepState.CANCELLED,
    (StepState.CANCEL_PENDING, StepEvent.LOST): StepState.CANCELLED,
}
FINISHED_STEP_STATES = frozenset({StepState.COMPLETED, StepState.CANCELLED, StepState.FAILED, StepState.INTERRUPTED})


class ActionOnFailure(enum.Enum):
    CONTINUE = "CONTINUE"
    CANCEL_AND_WAIT = "CANCEL_AND_WAIT"
    TERMINATE_CLUSTER = "TERMINATE_CLUSTER"
    TERMINATE_JOB_FLOW = "TERMINATE_JOB_FLOW"  # the old name EMR still accepts for TERMINATE_CLUSTER


class Role(enum.Enum):
    """An instance group's InstanceRole (InstanceGroupType in read-backs)."""

    MASTER = "MASTER"
    CORE = "CORE"
    TASK = "TASK"


class Market(enum.Enum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


# ---------------------------------------------------------------- ids

ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ID_LENGTH = 13  # j-2AXXXXXXGAPLF: EMR's ids have 13 characters after the prefix


def derived_id(prefix: str, *parts: object) -> str:
    """An EMR-shaped id derived from stable parts, so that replaying the journal gives the same ids."""
    number = int.from_bytes(hashlib.sha256("/".join(map(str, (prefix, *parts))).encode()).digest()[:12], "big")
    characters = []
    for _ in range(ID_LENGTH):
        number, digit = divmod(number, len(ID_ALPHABET))
        characters.append(ID_ALPHABET[digit])
    return prefix + "".join(characters)


def ec2_instance_id(instance_id: str) -> str:
    """EC2's 17-hex-digit id (`i-0123456789abcdef0`) beside each cluster instance."""
    return "i-" + hashlib.sha256(instance_id.encode()).hexdigest()[:17]


# ---------------------------------------------------------------- the state's records


@dataclass(frozen=True)
class Reason:
    """A state change reason, `{Code, Message}` as EMR prints it."""

    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class BootstrapAction:
    name: str
    path: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepDefinition:
    name: str
    args: tuple[str, ...]
    action_on_failure: ActionOnFailure = ActionOnFailure.CONTINUE


@dataclass(frozen=True)
class GroupDefinition:
    name: str
    role: Role
    instance_type: str
    count: int
    market: Market = Market.ON_DEMAND


@dataclass
class InstanceGroup:
    instance_group_id: str
    name: str
    role: Role
    instance_type: str
    market: Market
    requested_instance_count: int
    state: InstanceGroupState = InstanceGroupState.PROVISIONING
    reason: Reason = Reason()
    launched: int = 0  # instances ever launched in this group (names the next node)


@dataclass
class Instance:
    instance_id: str
    instance_group_id: str
    role: Role
    node_name: str        # its YARN node id and DataNode name: the instance's private DNS name here
    instance_type: str
    market: Market
    state: InstanceState = InstanceState.AWAITING_FULFILLMENT
    reason: Reason = Reason()
    launch_number: int = 0           # the group's n-th instance: what the spot market's draws are keyed by
    created_s: float = 0.0
    launched_s: float | None = None  # fulfilled: billing starts
    ready_s: float | None = None
    ended_s: float | None = None
    decommissioning: bool = False
    fulfill_at_s: float | None = None  # a spot replacement waits for capacity until then
    notice_s: float | None = None      # when its spot interruption notice came

    @property
    def ec2_instance_id(self) -> str:
        return ec2_instance_id(self.instance_id)

    @property
    def interrupted(self) -> bool:
        """EC2 took it back (a spot interruption), as opposed to failing or being terminated by the user."""
        return self.reason.message.startswith(SPOT_TERMINATION)


@dataclass
class Step:
    step_id: str
    definition: StepDefinition
    state: StepState = StepState.PENDING
    reason: Reason = Reason()
    created_s: float = 0.0
    started_s: float | None = None
    ended_s: float | None = None
    exit_code: int | None = None


# ---------------------------------------------------------------- events (from the shell)


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class StartCluster(Event):
    """The controller started (first time or again after `cluster down` / a crash)."""


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
