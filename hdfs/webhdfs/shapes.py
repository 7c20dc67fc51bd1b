"""WebHDFS's JSON, as Hadoop's WebHDFS REST API documents it, and its errors.

Errors travel as `{"RemoteException": {"exception", "javaClassName", "message"}}`
with the status Hadoop's ExceptionHandler gives them: 404 for
FileNotFoundException, 400 for IllegalArgumentException and
UnsupportedOperationException, 403 for AccessControlException and every other
IOException (FileAlreadyExistsException, SafeModeException, ...).
"""

from __future__ import annotations

from emrlab_common import web
from emrlab_common.errors import EmrlabError, InvalidArgument
from hdfs import errors
from hdfs.protocol import ContentSummary, FileStatus

DEFAULT_USER = "dr.who"  # hadoop.http.staticuser.user: who an anonymous request is

# Our error classes and the Java exceptions Hadoop raises for the same thing.
JAVA_CLASS_NAMES: dict[type, str] = {
    errors.FileNotFound: "java.io.FileNotFoundException",
    errors.BlockMissing: "org.apache.hadoop.hdfs.BlockMissingException",
    errors.PathIsDirectory: "java.io.FileNotFoundException",  # "Path is not a file", as INodeFile.valueOf
    errors.FileAlreadyExists: "org.apache.hadoop.fs.FileAlreadyExistsException",
    errors.ParentNotDirectory: "org.apache.hadoop.fs.ParentNotDirectoryException",
    errors.PathIsNotEmptyDirectory: "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    errors.InvalidPath: "org.apache.hadoop.fs.InvalidPathException",
    errors.AccessControl: "org.apache.hadoop.security.AccessControlException",
    errors.SafeMode: "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
    errors.LeaseExpired: "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException",
    errors.AlreadyBeingCreated: "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException",
    errors.ChecksumMismatch: "org.apache.hadoop.fs.ChecksumException",
}
ILLEGAL_ARGUMENT = "java.lang.IllegalArgumentException"
UNSUPPORTED_OPERATION = "java.lang.UnsupportedOperationException"
IO_EXCEPTION = "java.io.IOException"
STATUS_BY_JAVA_CLASS = {
    "java.io.FileNotFoundException": 404,
    ILLEGAL_ARGUMENT: 400,
    "org.apache.hadoop.fs.InvalidPathException": 400,
    UNSUPPORTED_OPERATION: 400,
}


class Unsupported(InvalidArgument):
    """UnsupportedOperationException: an operation WebHDFS has but emrlab does not (TRUNCATE)."""


def remote_exception(java_class_name: str, message: str) -> web.Response:
    return web.json_response({"RemoteException": {
        "exception": java_class_name.rsplit(".", 1)[-1], "javaClassName": java_class_name, "message": message,
    }}, status=STATUS_BY_JAVA_CLASS.get(java_class_name, 403))


def error_response(error: EmrlabError) -> web.Response:
    if isinstance(error, Unsupported):
        return remote_exception(UNSUPPORTED_OPERATION, error.message)
    java_class_name = next((name for cls, name in JAVA_CLASS_NAMES.items() if type(error) is cls), None)
    if java_class_name is None:
        java_class_name = ILLEGAL_ARGUMENT if isinstance(error, InvalidArgument) else IO_EXCEPTION
    return remote_exception(java_class_name, error.message)


def illegal_argument(message: str) -> web.Response:
    return remote_exception(ILLEGAL_ARGUMENT, message)


def file_status(status: FileStatus, path_suffix: str = "") -> dict:
    return {
        "accessTime": status.access_time_ms,
        "blockSize": status.block_size_bytes,
        "childrenNum": status.children_count,
        "group": status.group,
        "length": status.length_bytes,
        "modificationTime": status.modification_time_ms,
        "owner": status.owner,
        "pathSuffix": path_suffix,
        "permission": format(status.permission & 0o1777, "o"),
        "replication": status.replication,
        "storagePolicy": 0,
        "type": "DIRECTORY" if status.is_directory else "FILE",
    }


def file_statuses(listed_path: str, entries: list[FileStatus]) -> dict:
    """A listing; a file lists as itself, with an empty pathSuffix."""
    return {"FileStatuses": {"FileStatus": [
        file_status(entry, "" if entry.path == listed_path else entry.name) for entry in entries]}}


def content_summary(summary: ContentSummary) -> dict:
    return {"ContentSummary": {
        "directoryCount": summary.directory_count, "fileCount": summary.file_count, "length": summary.length_bytes,
        "quota": -1, "spaceConsumed": summary.space_consumed_bytes, "spaceQuota": -1, "typeQuota": {},
    }}


def boolean(value: bool) -> web.Response:
    return web.json_response({"boolean": value})


def parse_bool(query: dict[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise InvalidArgument(f'Invalid value for webhdfs parameter "{name}": Failed to parse "{value}" to Boolean.')
    return value.lower() == "true"


def parse_int(query: dict[str, str], name: str, default: int, base: int = 10) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value, base)
    except ValueError:
        raise InvalidArgument(f'Invalid value for webhdfs parameter "{name}": "{value}" is not a number') from None
    if number < 0:
        raise InvalidArgument(f'Invalid value for webhdfs parameter "{name}": {value} is negative')
    return number


def user_of(query: dict[str, str]) -> str:
    return query.get("user.name") or query.get("doas") or DEFAULT_USER
