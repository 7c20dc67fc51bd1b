"""WebHDFS on the NameNode: namespace operations answered here, data operations redirected.

Every operation runs on the NameNode's own namesystem under its lock, exactly
as an RPC does (`NameNode.operation()` for a query, `NameNode.handle` for an
event that changes it: changes are in the synced edit log before the answer).
OPEN, CREATE, APPEND and GETFILECHECKSUM answer 307 with
a Location on a DataNode's WebHDFS (one that holds the data, for reads), which
carries the request's parameters and `namenoderpcaddress`; with
`noredirect=true` the Location comes back as JSON instead. In token mode a
request proves who it is (`tokens.py`: delegation=<token> or a client
certificate) and the token operations are answered here.
"""

from __future__ import annotations

import random
from urllib.parse import quote, urlencode

from emrlab_common import tls, web
from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.errors import EmrlabError
from hdfs import paths
from hdfs.errors import (
    FileAlreadyExists,
    FileNotFound,
    InvalidPath,
    NoDatanodes,
    ParentNotDirectory,
    PathIsDirectory,
)
from hdfs.namenode import events
from hdfs.webhdfs import shapes, tokens
from hdfs.webhdfs.requests import (
    DEFAULT_DIRECTORY_PERMISSION,
    DEFAULT_FILE_PERMISSION,
    FORWARDED,
    PREFIX,
    check_operation,
    webhdfs_path,
)
from hdfs.webhdfs.shapes import parse_bool, parse_int


class NameNodeWebHdfs:
    def __init__(self, namenode, cluster_dir: ClusterDir, rpc_address: str, rng: random.Random):
        """`rng` picks the DataNode a redirect names: seeded from the NameNode's logged seed, so a run replays."""
        self.namenode = namenode
        self.cluster_dir = cluster_dir
        self.rpc_address = rpc_address
        self.rng = rng

    def handle(self, request: web.Request) -> web.Response:
        try:
            operation = check_operation(request)
            return self._dispatch(operation, webhdfs_path(request), request)
        except EmrlabError as error:
            return shapes.error_response(error)

    def _dispatch(self, operation: str, path: str, request: web.Request) -> web.Response:
        query, user = request.query, tokens.authenticated_user(self.namenode, request)
        match operation:
            case "GETDELEGATIONTOKEN" | "RENEWDELEGATIONTOKEN" | "CANCELDELEGATIONTOKEN":
                return tokens.handle(self.namenode, operation, request, user)
            case "GETFILESTATUS":
                with self.namenode.operation() as namesystem:
                    status = namesystem.file_info(user, path)
                if status is None:
                    raise FileNotFound(f"File does not exist: {path}")
                return web.json_response({"FileStatus": shapes.file_status(status)})
            case "LISTSTATUS":
                return web.json_response(shapes.file_statuses(path, self._list(user, path)))
            case "LISTSTATUS_BATCH":
                with self.namenode.operation() as namesystem:
                    entries, remaining = namesystem.listing(user, path, query.get("startafter", ""))
                return web.json_response({"DirectoryListing": {
                    "partialListing": shapes.file_statuses(path, entries),
                    "remainingEntries": remaining}})
            case "GETCONTENTSUMMARY":
                with self.namenode.operation() as namesystem:
                    summary = namesystem.content_summary(user, path)
                return web.json_response(shapes.content_summary(summary))
            case "GETHOMEDIRECTORY":
                return web.json_response({"Path": f"/user/{user}"})
            case "GETFILEBLOCKLOCATIONS":
                return web.json_response(self._block_locations(user, path, query))
            case "OPEN" | "GETFILECHECKSUM":
                return self._redirect(operation, path, request, user, self._reader_datanode(user, path, query))
            case "CREATE":
                return self._create(path, request, user)
            case "APPEND":
                with self.namenode.operation() as namesystem:
                    namesystem.namespace.get_file(path)
                return self._redirect(operation, path, request, user, self._any_datanode())
            case "MKDIRS":
                permission = parse_int(query, "permission", DEFAULT_DIRECTORY_PERMISSION, base=8)
                self.namenode.handle(events.Mkdirs(user, path, permission, True))
                return shapes.boolean(True)
            case "RENAME":
                destination = paths.validate(query.get("destination") or "")
                try:
                    self.namenode.handle(events.Rename(user, path, destination))
                except (FileNotFound, FileAlreadyExists, ParentNotDirectory, InvalidPath):
                    return shapes.boolean(False)  # FileSystem.rename says false for these, as Hadoop does
                return shapes.boolean(True)
            case "DELETE":
                try:
                    self.namenode.handle(events.Delete(user, path, parse_bool(query, "recursive", False)))
                except FileNotFound:
                    return shapes.boolean(False)
                return shapes.boolean(True)
            case "SETREPLICATION":
                replication = parse_int(query, "replication", 0)
                try:
                    self.namenode.handle(events.SetReplication(user, path,
                                                               replication or self.namenode.config.replication))
                except PathIsDirectory:
                    return shapes.boolean(False)
                return shapes.boolean(True)
            case "SETPERMISSION":
                permission = parse_int(query, "permission", DEFAULT_DIRECTORY_PERMISSION, base=8)
                self.namenode.handle(events.SetPermission(user, path, permission))
                return web.Response(200)
            case "SETOWNER":
                self.namenode.handle(events.SetOwner(user, path, query.get("owner", ""), query.get("group", "")))
                return web.Response(200)
            case "SETTIMES":
                modification_time_ms = parse_int(query, "modificationtime", -1) if query.get("modificationtime") != "-1" else -1
                self.namenode.handle(events.SetTimes(user, path, modification_time_ms))
                return web.Response(200)
            case "TRUNCATE" | "CONCAT":
                raise shapes.Unsupported(f"{operation} is not supported by emrlab's HDFS")
        raise AssertionError(operation)

    # ------------------------------------------------------------ reading the namespace

    def _list(self, user: str, path: str) -> list:
        entries, start_after = [], ""
        while True:
            with self.namenode.operation() as namesystem:
                page, remaining = namesystem.listing(user, path, start_after)
            entries += page
            if not remaining or not page:
                return entries
            start_after = page[-1].name

    def _block_locations(self, user: str, path: str, query: dict[str, str]) -> dict:
        offset, length = parse_int(query, "offset", 0), parse_int(query, "length", 0)
        with self.namenode.operation() as namesystem:
            _, located, _ = namesystem.block_locations(user, path, offset, length, "")
        return {"BlockLocations": {"BlockLocation": [{
            "cachedHosts": [], "corrupt": block.corrupt, "offset": block.offset_bytes,
            "length": block.block.length_bytes, "storageTypes": ["DISK"] * len(block.locations),
            "hosts": [node.node_id for node in block.locations],
            "names": [node.address for node in block.locations],
            "topologyPaths": [f"/default-rack/{node.address}" for node in block.locations],
        } for block in located]}}

    # ------------------------------------------------------------ redirects to DataNodes

    def _create(self, path: str, request: web.Request, user: str) -> web.Response:
        query = request.query
        parse_bool(query, "overwrite", False)
        parse_int(query, "blocksize", 0)
        parse_int(query, "replication", 0)
        parse_int(query, "permission", DEFAULT_FILE_PERMISSION, base=8)
        with self.namenode.operation() as namesystem:  # fail before any data is sent, where we can tell
            existing = namesystem.file_info(user, path)
        if existing is not None and existing.is_directory:
            raise FileAlreadyExists(f"{path} already exists as a directory")
        if existing is not None and not parse_bool(query, "overwrite", False):
            raise FileAlreadyExists(f"{path} for client {request.host} already exists")
        return self._redirect("CREATE", path, request, user, self._any_datanode())

    def _reader_datanode(self, user: str, path: str, query: dict[str, str]) -> str:
        offset = parse_int(query, "offset", 0)
        with self.namenode.operation() as namesystem:
            _, located, _ = namesystem.block_locations(user, path, offset, 1, "")
        for block in located:
            for node in block.locations:
                address = self._http_address(node.uuid)
                if address:
                    return address
        return self._any_datanode()  # an empty file, or offset past the end: any DataNode answers that

    def _any_datanode(self) -> str:
        with self.namenode.operation() as namesystem:
            live = [node.uuid for node in namesystem.datanodes.live()]
        addresses = [address for address in map(self._http_address, live) if address]
        if not addresses:
            raise NoDatanodes("Failed to find datanode, suggest to check cluster health.")
        return self.rng.choice(addresses)

    def _http_address(self, datanode_uuid: str) -> str:
        """A DataNode's web address, from its record in the cluster directory."""
        for record in self.cluster_dir.daemons():
            if record.extra.get("datanode_uuid") == datanode_uuid and process_alive(record.pid):
                return record.extra.get("http_address", "")
        return ""  # gone, though the NameNode has not declared it dead yet

    def _redirect(self, operation: str, path: str, request: web.Request, user: str,
                  datanode_http: str) -> web.Response:
        forwarded = {name: request.query[name] for name in FORWARDED if name in request.query}
        parameters = {"op": operation, "namenoderpcaddress": self.rpc_address, **forwarded,
                      **tokens.redirect_token(self.namenode, request, user)}
        location = f"{tls.web_scheme()}://{datanode_http}{PREFIX}{quote(path)}?{urlencode(parameters)}"
        if parse_bool(request.query, "noredirect", False):
            return web.json_response({"Location": location})
        return web.redirect(location)

