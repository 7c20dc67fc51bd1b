"""The NameNode's wire format: its plain values (blocks, DataNodes, commands) to protos and back.

The state machine (`namesystem.py`) knows nothing of protobuf; the servicers
(`server.py`) call these at the edge, so that each RPC is: proto in, plain
values to the namesystem, plain values back, proto out. A DataNode command
becomes the `DatanodeCommand` oneof its heartbeat response carries.
"""

from __future__ import annotations

from emrlab_common.protos import hdfs_pb2
from hdfs.namenode.datanodes import AdminState, DatanodeDescriptor
from hdfs.namenode.events import (
    BlockRef,
    InvalidateCommand,
    KeyUpdateCommand,
    LocatedBlock,
    RecoverCommand,
    RegisterCommand,
    TransferCommand,
)


def block_to_proto(ref: BlockRef) -> hdfs_pb2.Block:
    return hdfs_pb2.Block(block_id=ref.block_id, generation_stamp=ref.generation_stamp, length_bytes=ref.length_bytes)


def block_from_proto(message: hdfs_pb2.Block) -> BlockRef:
    return BlockRef(message.block_id, message.generation_stamp, message.length_bytes)


def datanode_to_proto(datanode: DatanodeDescriptor) -> hdfs_pb2.DatanodeId:
    return hdfs_pb2.DatanodeId(datanode_uuid=datanode.uuid, node_id=datanode.node_id, address=datanode.address,
                               xfer_port=datanode.xfer_port)


SAFE_MODE_ACTIONS = {hdfs_pb2.SAFEMODE_GET: "get", hdfs_pb2.SAFEMODE_ENTER: "enter", hdfs_pb2.SAFEMODE_LEAVE: "leave"}
ADMIN_STATE_TO_PROTO = {
    AdminState.NORMAL: hdfs_pb2.DatanodeInfo.NORMAL,
    AdminState.DECOMMISSION_INPROGRESS: hdfs_pb2.DatanodeInfo.DECOMMISSION_INPROGRESS,
    AdminState.DECOMMISSIONED: hdfs_pb2.DatanodeInfo.DECOMMISSIONED,
}


def located_to_proto(located: LocatedBlock, block_token: bytes = b"") -> hdfs_pb2.LocatedBlock:
    return hdfs_pb2.LocatedBlock(
        block=block_to_proto(located.block), offset_bytes=located.offset_bytes,
        locations=[datanode_to_proto(node) for node in located.locations], corrupt=located.corrupt,
        block_token=block_token,
    )


def block_key_to_proto(key) -> hdfs_pb2.BlockKey:
    return hdfs_pb2.BlockKey(key_id=key.key_id, secret=key.secret, expiry_unix_s=key.expiry_s)


def command_to_proto(command) -> hdfs_pb2.DatanodeCommand:
    match command:
        case TransferCommand(block, targets, block_token):
            return hdfs_pb2.DatanodeCommand(transfer=hdfs_pb2.TransferCommand(
                block=block_to_proto(block), targets=[datanode_to_proto(node) for node in targets],
                block_token=block_token))
        case KeyUpdateCommand(block_keys):
            return hdfs_pb2.DatanodeCommand(key_update=hdfs_pb2.KeyUpdateCommand(
                block_keys=[block_key_to_proto(key) for key in block_keys]))
        case InvalidateCommand(blocks):
            return hdfs_pb2.DatanodeCommand(invalidate=hdfs_pb2.InvalidateCommand(
                blocks=[block_to_proto(block) for block in blocks]))
        case RecoverCommand(block, new_generation_stamp, locations, block_token):
            return hdfs_pb2.DatanodeCommand(recover=hdfs_pb2.RecoverBlockCommand(
                block=block_to_proto(block), new_generation_stamp=new_generation_stamp,
                locations=[datanode_to_proto(node) for node in locations], block_token=block_token))
        case RegisterCommand():
            return hdfs_pb2.DatanodeCommand(register=hdfs_pb2.RegisterCommand())
    raise AssertionError(f"unknown command {command!r}")
