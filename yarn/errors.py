"""YARN's operating errors, named as Hadoop names its exceptions where it can.

Each maps to one gRPC status through its base class in `emrlab_common.errors`,
and reaches the user as one line.
"""

from emrlab_common.errors import FailedPrecondition, InvalidArgument, NotFound


class ApplicationNotFound(NotFound):
    """ApplicationNotFoundException: the RM knows no application with that id."""


class ApplicationAttemptNotFound(NotFound):
    """ApplicationAttemptNotFoundException: not the current attempt (an old AM still talking)."""


class NodeNotFound(NotFound):
    """No NodeManager with that node id has ever registered."""


class InvalidResourceRequest(InvalidArgument):
    """InvalidResourceRequestException: a container larger than the scheduler or any node allows."""


class InvalidApplicationMasterRequest(FailedPrecondition):
    """ApplicationMasterNotRegisteredException and friends: an AM call out of order."""


class ApplicationMasterNotRegistered(InvalidApplicationMasterRequest):
    """ApplicationMasterNotRegisteredException: the RM restarted and recovered the attempt; register again."""


class ContainerNotFound(NotFound):
    """The NodeManager has no container with that id."""
