"""HDFS's operating errors, named as Hadoop names them where it can.

Each maps to one gRPC status through its base class in `emrlab_common.errors`,
and reaches the user as one line. Each is also the matching Python built-in
(`FileNotFound` is a `FileNotFoundError`, `AccessControl` a `PermissionError`,
...), so that ordinary Python code catches them as it catches local file errors.
"""

from emrlab_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)


class FileNotFound(NotFound, FileNotFoundError):
    """FileNotFoundException: no file or directory at that path."""


class FileAlreadyExists(AlreadyExists, FileExistsError):
    """FileAlreadyExistsException."""


class ParentNotDirectory(FailedPrecondition, NotADirectoryError):
    """A path goes through a file as if it were a directory."""


class PathIsNotEmptyDirectory(FailedPrecondition, OSError):
    """Deleting a non-empty directory without `recursive`."""


class PathIsDirectory(FailedPrecondition, IsADirectoryError):
    """An operation on files only was given a directory."""


class InvalidPath(InvalidArgument, ValueError):
    """Malformed path (relative where absolute is needed, `..`, empty component, ...)."""


class AccessControl(PermissionDenied, PermissionError):
    """AccessControlException: the permission check said no."""


class SafeMode(FailedPrecondition):
    """SafeModeException: the NameNode is read-only until enough blocks are reported."""


class LeaseExpired(FailedPrecondition):
    """LeaseExpiredException / no lease: the writer no longer holds the file."""


class AlreadyBeingCreated(FailedPrecondition):
    """AlreadyBeingCreatedException: another client holds the file's lease."""


class NoDatanodes(ResourceExhausted):
    """Could only be written to 0 of the minimum replicas: no live DataNode can take a block."""


class BlockMissing(NotFound, OSError):
    """BlockMissingException: no live, uncorrupt replica of a block could be read."""


class ChecksumMismatch(FailedPrecondition, OSError):
    """ChecksumException: bytes read do not match their stored checksum."""
