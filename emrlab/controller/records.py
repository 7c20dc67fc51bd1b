"""The cluster controller's nouns, states, edits and commands, in EMR's words.

Lifecycles are EMR's (DescribeCluster, ListInstances, ListSteps), each an enum
with a (state, event) -> state table driven by `emrlab_common.lifecycle`:

    cluster         STARTING -> BOOTSTRAPPING -> RUNNING <-> WAITING -> TERMINATING -> TERMINATED[_WITH_ERRORS]
    instance group  PROVISIONING -> BOOTSTRAPPING -> RUNNING <-> RESIZING -> TERMINATED
    instance        AWAITING_FULFILLMENT -> PROVISIONING -> BOOTSTRAPPING -> RUNNING -> TERMINATED
    step            PENDING -> RUNNING -> COMPLETED | FAILED | CANCELLED | INTERRUPTED (CANCEL_PENDING between)

The records the state is made of (groups, instances, steps, their
definitions) live here too; the messages between the state machine and its
shell (events, edits, commands) are in messages.py.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from emrlab.controller.market import SPOT_TERMINATION

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
class ManagedScalingPolicy:
    """EMR's ManagedScalingPolicy.ComputeLimits with UnitType Instances (core and task instances; not the master).

    The last three are emrlab's: how often a decision may be made, how long a task node must sit idle before
    it goes, and how long its graceful decommission may wait for the applications that used it.
    """

    minimum_units: int
    maximum_units: int
    maximum_on_demand_units: int | None = None
    maximum_core_units: int | None = None
    cooldown_s: float = 10.0
    idle_before_scale_down_s: float = 20.0
    decommission_timeout_s: float = 3600.0


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
