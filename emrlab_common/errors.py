"""Operating errors: expected, handled, shown to the user as one clear line.

A missing file, a full node or a dead daemon is not a bug; it is an operating
error. Each kind is a class here (or a subclass in `hdfs`, `yarn`,
`mapreduce`), carries one gRPC status code, and crosses the wire intact: the
server aborts the call with the code, the message, and the class name in the
trailing metadata; the client raises the same class again (`rpc.call` does
both halves). The CLI prints `emrlab: <message>` and exits non-zero.

Programmer errors (a broken invariant) are not caught here: they are plain
exceptions and assertions, and fail loudly.
"""

from __future__ import annotations

import grpc

ERROR_CLASS_METADATA_KEY = "emrlab-error-class"

_classes_by_name: dict[str, type[EmrlabError]] = {}


class EmrlabError(Exception):
    """Base of every operating error; `status` is its gRPC status code."""

    status = grpc.StatusCode.UNKNOWN

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The registry lets the client side rebuild the exact class from its name.
        _classes_by_name[cls.__name__] = cls

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class InvalidArgument(EmrlabError):
    """Malformed input: a bad path, flag, size or key."""

    status = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(EmrlabError):
    status = grpc.StatusCode.NOT_FOUND


class AlreadyExists(EmrlabError):
    status = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(EmrlabError):
    status = grpc.StatusCode.PERMISSION_DENIED


class FailedPrecondition(EmrlabError):
    """The request is well formed but the system is not in a state to do it."""

    status = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(EmrlabError):
    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(EmrlabError):
    """A daemon cannot be reached, or is not running."""

    status = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(EmrlabError):
    status = grpc.StatusCode.DEADLINE_EXCEEDED


class Aborted(EmrlabError):
    """The operation was cut short (killed, preempted, superseded)."""

    status = grpc.StatusCode.ABORTED


_classes_by_status = {
    error_class.status: error_class
    for error_class in (
        InvalidArgument, NotFound, AlreadyExists, PermissionDenied, FailedPrecondition,
        ResourceExhausted, Unavailable, DeadlineExceeded, Aborted,
    )
}


def error_from_status(status: grpc.StatusCode, message: str, class_name: str | None) -> EmrlabError:
    """Rebuild the error a server raised: its own class if known here, else by status code."""
    error_class = _classes_by_name.get(class_name or "") or _classes_by_status.get(status, EmrlabError)
    return error_class(message)
