"""A WebHDFS request: a path under /webhdfs/v1 and an `op` its HTTP method allows.

Both sides read requests this way: the NameNode's (`hdfs/namenode/webhdfs.py`),
and the DataNode's, for the operations the NameNode redirects to it
(`hdfs/datanode/webhdfs.py`).
"""

from __future__ import annotations

from emrlab_common import web
from emrlab_common.errors import InvalidArgument
from hdfs import paths

PREFIX = "/webhdfs/v1"
DEFAULT_DIRECTORY_PERMISSION = 0o755
DEFAULT_FILE_PERMISSION = 0o644
# Parameters a DataNode needs to carry out a redirected request.
FORWARDED = ("user.name", "doas", "offset", "length", "buffersize", "overwrite", "blocksize", "replication",
             "permission")
GET_OPERATIONS = {"OPEN", "GETFILESTATUS", "LISTSTATUS", "LISTSTATUS_BATCH", "GETCONTENTSUMMARY",
                  "GETFILECHECKSUM", "GETHOMEDIRECTORY", "GETFILEBLOCKLOCATIONS", "GETDELEGATIONTOKEN"}
PUT_OPERATIONS = {"CREATE", "MKDIRS", "RENAME", "SETREPLICATION", "SETPERMISSION", "SETOWNER", "SETTIMES",
                  "RENEWDELEGATIONTOKEN", "CANCELDELEGATIONTOKEN"}
POST_OPERATIONS = {"APPEND", "TRUNCATE", "CONCAT"}
DELETE_OPERATIONS = {"DELETE"}
OPERATIONS_BY_METHOD = {"GET": GET_OPERATIONS, "HEAD": GET_OPERATIONS, "PUT": PUT_OPERATIONS,
                        "POST": POST_OPERATIONS, "DELETE": DELETE_OPERATIONS}


def webhdfs_path(request: web.Request) -> str:
    """The HDFS path of a /webhdfs/v1/... request, validated (InvalidPath is a 400)."""
    path = request.path[len(PREFIX):] or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return paths.validate(path)


def check_operation(request: web.Request) -> str:
    operation = request.query.get("op", "").upper()
    allowed = OPERATIONS_BY_METHOD.get(request.method, set())
    if operation not in allowed:
        if not any(operation in operations for operations in OPERATIONS_BY_METHOD.values()):
            raise InvalidArgument(f'Invalid value for webhdfs parameter "op": No enum constant '
                                  f'org.apache.hadoop.hdfs.web.resources.{request.method.title()}OpParam.Op.{operation}')
        raise InvalidArgument(f"Invalid value for webhdfs parameter \"op\": {operation} is not a "
                              f"{request.method} operation")
    return operation
