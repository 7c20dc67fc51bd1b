"""The NameNode's web server: its page, a file browser, `/jmx`, and WebHDFS.

    /                       overview (as Hadoop's dfshealth page): safe mode, capacity, Live/Dead Nodes, blocks
    /explorer?path=/a/b     the file browser: a directory's entries, or a file's blocks and their replicas
    /jmx                    the same numbers as Hadoop's beans (Hadoop:service=NameNode,name=FSNamesystem, ...)
    /webhdfs/v1/PATH?op=..  WebHDFS (hdfs/webhdfs/)

Everything is read from the live namesystem under the NameNode's lock; nothing
here is stored. The page reloads itself every few seconds.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from urllib.parse import quote

from emrlab_common import web
from emrlab_common.config import format_size, parse_text, setting
from emrlab_common.errors import EmrlabError
from hdfs.namenode.datanodes import AdminState, DatanodeDescriptor
from hdfs.namenode.inodes import INodeFile, subtree
from hdfs.namenode.webhdfs import NameNodeWebHdfs
from hdfs.protocol import mode_string
from hdfs.webhdfs.requests import PREFIX
from hdfs.webhdfs.shapes import DEFAULT_USER

REFRESH_S = 5
NAV = [("/", "Overview"), ("/explorer?path=/", "Browse the file system"), ("/jmx", "JMX")]


@dataclass(frozen=True)
class NameNodeHttpConfig:
    http_address: str = setting(
        "dfs.namenode.http-address", "127.0.0.1:0", parse_text,
        "Where the NameNode's web page and WebHDFS listen (Hadoop: 0.0.0.0:9870); port 0 picks a free one.")


def datanode_state(datanode: DatanodeDescriptor) -> str:
    """As Hadoop's DataNodes tab: In Service, Decommission in progress, Decommissioned, or Dead."""
    if not datanode.live:
        return "Dead"
    return "In Service" if datanode.admin_state is AdminState.NORMAL else datanode.admin_state.value


class NameNodeWeb:
    def __init__(self, namenode, cluster_dir, rpc_address: str):
        self.namenode = namenode
        self.rpc_address = rpc_address
        # Which DataNode a redirect names is drawn from the NameNode's logged seed, so a run replays.
        self.webhdfs = NameNodeWebHdfs(namenode, cluster_dir, rpc_address, random.Random(f"{namenode.random_seed}/webhdfs"))
        self.started_ms = int(time.time() * 1000)

    def routes(self) -> dict[str, web.Handler]:
        return {"/": self.overview_page, "/dfshealth.html": self.overview_page, "/explorer": self.explorer_page,
                "/jmx": self.jmx, PREFIX: self.webhdfs.handle, PREFIX + "/": self.webhdfs.handle}

    # ------------------------------------------------------------ the numbers

    def snapshot(self) -> dict:
        """Everything the overview and /jmx show, read at one moment under the lock."""
        with self.namenode.lock:
            namesystem = self.namenode.namesystem
            now_s = self.namenode.clock()
            nodes = namesystem.datanodes.all()
            live = [node for node in nodes if node.live]
            inodes = list(subtree(namesystem.namespace.root))
            files = sum(isinstance(inode, INodeFile) for inode in inodes)
            counts = namesystem.blocks.counts()
            return {
                "safe_mode": namesystem.safe_mode.on, "safe_mode_status": namesystem.safe_mode.status,
                "files": files, "directories": len(inodes) - files, "blocks": len(namesystem.blocks),
                "capacity_bytes": sum(node.capacity_bytes for node in live),
                "used_bytes": sum(node.dfs_used_bytes for node in live),
                "remaining_bytes": sum(node.remaining_bytes for node in live),
                "live": len(live), "dead": len(nodes) - len(live),
                "decommissioning": sum(node.admin_state is AdminState.DECOMMISSION_INPROGRESS for node in live),
                "under_replicated": counts["under_replicated"], "missing": counts["missing"],
                "corrupt": counts["corrupt"], "total_load": sum(node.active_transfers for node in live),
                "last_checkpoint_ms": int(self.namenode.last_checkpoint_s * 1000),
                "last_written_txid": self.namenode.editlog.last_written_txid,
                "transactions_since_checkpoint": self.namenode.editlog.transactions_since_checkpoint,
                "datanodes": [{
                    "node_id": node.node_id, "address": node.address, "state": datanode_state(node),
                    "admin_state": node.admin_state.value, "last_contact_s": round(now_s - node.last_heartbeat_s, 1),
                    "blocks": len(node.block_ids), "capacity_bytes": node.capacity_bytes,
                    "used_bytes": node.dfs_used_bytes, "remaining_bytes": node.remaining_bytes,
                } for node in nodes],
            }

    def jmx(self, request: web.Request) -> web.Response:
        numbers = self.snapshot()
        node_info = {node["node_id"]: {"infoAddr": node["address"], "lastContact": node["last_contact_s"],
                                       "adminState": node["admin_state"], "numBlocks": node["blocks"],
                                       "capacity": node["capacity_bytes"], "used": node["used_bytes"],
                                       "remaining": node["remaining_bytes"]}
                     for node in numbers["datanodes"]}
        live = {name: info for name, info in node_info.items()
                if next(node for node in numbers["datanodes"] if node["node_id"] == name)["state"] != "Dead"}
        dead = {name: info for name, info in node_info.items() if name not in live}
        return web.jmx_response(request, [
            {"name": "Hadoop:service=NameNode,name=FSNamesystem", "modelerType": "FSNamesystem",
             "tag.HAState": "active", "CapacityTotal": numbers["capacity_bytes"],
             "CapacityUsed": numbers["used_bytes"], "CapacityRemaining": numbers["remaining_bytes"],
             "BlocksTotal": numbers["blocks"], "FilesTotal": numbers["files"] + numbers["directories"],
             "UnderReplicatedBlocks": numbers["under_replicated"], "MissingBlocks": numbers["missing"],
             "CorruptBlocks": numbers["corrupt"], "NumLiveDataNodes": numbers["live"],
             "NumDeadDataNodes": numbers["dead"], "NumDecommissioningDataNodes": numbers["decommissioning"],
             "TotalLoad": numbers["total_load"], "LastCheckpointTime": numbers["last_checkpoint_ms"],
             "LastWrittenTransactionId": numbers["last_written_txid"],
             "TransactionsSinceLastCheckpoint": numbers["transactions_since_checkpoint"]},
            {"name": "Hadoop:service=NameNode,name=NameNodeInfo", "modelerType": "NameNodeInfo",
             "Safemode": numbers["safe_mode_status"] if numbers["safe_mode"] else "",
             "Total": numbers["capacity_bytes"], "Used": numbers["used_bytes"], "Free": numbers["remaining_bytes"],
             "TotalBlocks": numbers["blocks"], "TotalFiles": numbers["files"] + numbers["directories"],
             "LiveNodes": json.dumps(live), "DeadNodes": json.dumps(dead), "NNStartedTimeInMillis": self.started_ms},
            {"name": "Hadoop:service=NameNode,name=NameNodeStatus", "modelerType": "NameNodeStatus",
             "State": "active", "NNRole": "NameNode", "HostAndPort": self.rpc_address},
        ])

    # ------------------------------------------------------------ pages

    def overview_page(self, request: web.Request) -> web.Response:
        numbers = self.snapshot()
        summary = [
            ("Safe mode", numbers["safe_mode_status"]),
            ("Files and directories", (f"{numbers['files'] + numbers['directories']} files and directories, "
                                       f"{numbers['blocks']} blocks = "
                                       f"{numbers['files'] + numbers['directories'] + numbers['blocks']} total filesystem object(s)")),
            ("Configured Capacity", format_size(numbers["capacity_bytes"])),
            ("DFS Used", format_size(numbers["used_bytes"])),
            ("DFS Remaining", format_size(numbers["remaining_bytes"])),
            ("Live Nodes", numbers["live"]),
            ("Dead Nodes", numbers["dead"]),
            ("Decommissioning Nodes", numbers["decommissioning"]),
            ("Number of Under-Replicated Blocks", numbers["under_replicated"]),
            ("Number of Missing Blocks", numbers["missing"]),
            ("Number of Corrupt Blocks", numbers["corrupt"]),
            ("Last Checkpoint Time", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(numbers["last_checkpoint_ms"] / 1000))),
            ("Last Written Transaction Id", numbers["last_written_txid"]),
        ]
        datanodes = web.table(
            ["Node", "Address", "State", "Last contact (s)", "Blocks", "Capacity", "Used", "Remaining"],
            ([node["node_id"], node["address"], node["state"], node["last_contact_s"], node["blocks"],
              format_size(node["capacity_bytes"]), format_size(node["used_bytes"]), format_size(node["remaining_bytes"])]
             for node in numbers["datanodes"]),
            row_class=lambda row: {"Dead": "dead", "Decommission in progress": "decommissioning"}.get(row[2], ""))
        body = (f"<p>NameNode at {web.escape(self.rpc_address)} (active)</p>"
                f"<h2>Summary</h2>{web.table(['', ''], summary)}<h2>Datanode Information</h2>{datanodes}")
        return web.page("NameNode overview", body, NAV, refresh_s=REFRESH_S)

    def explorer_page(self, request: web.Request) -> web.Response:
        path = request.query.get("path") or "/"
        user = request.query.get("user.name") or DEFAULT_USER
        try:
            with self.namenode.operation() as namesystem:
                status = namesystem.file_info(user, path)
                if status is None:
                    body = f"<p>Path does not exist: {web.escape(path)}</p>"
                elif status.is_directory:
                    body = self._directory(namesystem, user, path)
                else:
                    body = self._file(namesystem, user, path)
        except EmrlabError as error:
            body = f"<p>{web.escape(error.message)}</p>"
        crumbs, so_far = [web.link("/explorer?path=/", "/")], ""
        for name in [part for part in path.split("/") if part]:
            so_far += "/" + name
            crumbs.append(web.link(f"/explorer?path={quote(so_far)}", name))
        return web.page("Browse Directory", f"<p>{' / '.join(crumbs)}</p>{body}", NAV)

    @staticmethod
    def _directory(namesystem, user: str, path: str) -> str:
        entries, start_after = [], ""
        while True:
            page, remaining = namesystem.listing(user, path, start_after)
            entries += page
            if not remaining or not page:
                break
            start_after = page[-1].name
        return web.table(
            ["Permission", "Owner", "Group", "Size", "Replication", "Block Size", "Last Modified", "Name"],
            ([mode_string(entry.permission, entry.is_directory), entry.owner, entry.group,
              format_size(entry.length_bytes), entry.replication if not entry.is_directory else 0,
              format_size(entry.block_size_bytes),
              time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.modification_time_ms / 1000)),
              web.link(f"/explorer?path={quote(entry.path)}", entry.name)] for entry in entries))

    @staticmethod
    def _file(namesystem, user: str, path: str) -> str:
        [(status, blocks)] = namesystem.fsck(user, path)
        rows, offset = [], 0
        for block in blocks:
            replicas = [node.node_id for node in block.live] + [f"{node.node_id} (corrupt)" for node in block.corrupt]
            rows.append([f"blk_{block.block.block_id}_{block.block.generation_stamp}", offset, block.block.length_bytes,
                         f"{len(block.live)}/{block.expected_replication}", ", ".join(replicas) or "none: missing"])
            offset += block.block.length_bytes
        return (f"<p>{web.escape(status.path)}: {status.length_bytes} bytes, replication {status.replication}, "
                f"block size {format_size(status.block_size_bytes)}"
                f"{', being written' if status.under_construction else ''}</p>"
                + web.table(["Block", "Offset", "Length", "Live replicas", "DataNodes holding a replica"], rows)
                + f'<p><a href="{PREFIX}{quote(path)}?op=OPEN&amp;user.name={quote(user)}">Download</a></p>')
