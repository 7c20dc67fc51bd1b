"""The namespace: the tree of directories and files, and every change to it.

Durable: this whole tree lives in the edit log and the image. Each public
method checks a request (paths, permissions, state) and returns the edits that
carry it out, changing nothing; `apply(edit)` then changes the tree. The
NameNode applies and logs those edits under one lock, and replays the log
through the same `apply` at start.

Blocks are created and dropped here too (a file owns its list of blocks), and
registered with the block manager, which tracks where their replicas are.
"""

from __future__ import annotations

from hdfs import paths
from hdfs.errors import (
    AlreadyBeingCreated,
    FileAlreadyExists,
    FileNotFound,
    InvalidPath,
    ParentNotDirectory,
    PathIsDirectory,
    PathIsNotEmptyDirectory,
)
from hdfs.namenode import edits
from hdfs.namenode.blocks import BlockInfo, BlockManager, BlockState
from hdfs.namenode.inodes import Access, INode, INodeDirectory, INodeFile, PermissionChecker, subtree

ROOT_PERMISSION = 0o755
IMPLIED_PARENT_BITS = 0o300  # mkdir -p gives its implied parents u+wx, as Hadoop does


class Namespace:
    def __init__(self, blocks: BlockManager, superuser: str, supergroup: str):
        self.blocks = blocks
        self.root = INodeDirectory("", superuser, supergroup, ROOT_PERMISSION, 0)

    # ------------------------------------------------------------ lookups

    def resolve(self, path: str) -> list[INode | None]:
        """The inodes along `path` from the root; `None` for components that do not exist."""
        inodes: list[INode | None] = [self.root]
        node: INode | None = self.root
        for name in paths.components(path):
            if node is None:
                inodes.append(None)
                continue
            if not isinstance(node, INodeDirectory):
                raise ParentNotDirectory(f"{node.path()} is not a directory (in {path})")
            node = node.children.get(name)
            inodes.append(node)
        return inodes

    def get(self, path: str) -> INode:
        inode = self.resolve(path)[-1]
        if inode is None:
            raise FileNotFound(f"{path}: No such file or directory")
        return inode

    def get_file(self, path: str) -> INodeFile:
        inode = self.get(path)
        if not isinstance(inode, INodeFile):
            raise PathIsDirectory(f"{path}: Is a directory")
        return inode

    def files(self):
        """Every file, in no particular order."""
        return (inode for inode in subtree(self.root) if isinstance(inode, INodeFile))

    # ------------------------------------------------------------ checks that return edits

    def mkdirs(self, checker: PermissionChecker, path: str, permission: int, create_parent: bool, time_ms: int) -> list:
        inodes = self.resolve(path)
        if inodes[-1] is not None:
            if inodes[-1].is_directory:
                return []
            raise FileAlreadyExists(f"{path}: File exists (not a directory)")
        first_missing = inodes.index(None)
        if first_missing < len(inodes) - 1 and not create_parent:
            raise FileNotFound(f"{paths.parent(path)}: No such file or directory")
        checker.check(inodes, ancestor=Access.WRITE | Access.EXECUTE)
        group = inodes[first_missing - 1].group
        names = paths.components(path)
        result = []
        for index in range(first_missing, len(inodes)):
            directory = "/" + "/".join(names[:index])
            implied = index < len(inodes) - 1
            bits = permission | IMPLIED_PARENT_BITS if implied else permission
            result.append(edits.Mkdir(directory, checker.user, group, bits, time_ms))
        return result

    def create(self, checker: PermissionChecker, path: str, permission: int, *, client_name: str, overwrite: bool,
               create_parent: bool, replication: int, block_size_bytes: int, time_ms: int,
               parent_permission: int) -> list:
        if path == "/":
            raise InvalidPath("/: cannot create a file at the root path")
        inodes = self.resolve(path)
        existing = inodes[-1]
        result: list = []
        if existing is not None:
            if existing.is_directory:
                raise PathIsDirectory(f"{path}: Is a directory")
            if isinstance(existing, INodeFile) and existing.under_construction and existing.client_name != client_name:
                raise AlreadyBeingCreated(f"{path}: already being created by {existing.client_name}")
            if not overwrite:
                raise FileAlreadyExists(f"{path}: File exists")
            checker.check(inodes, parent=Access.WRITE | Access.EXECUTE, target=Access.WRITE, check_sticky=True)
            result.append(edits.Delete(path, time_ms))
        elif None in inodes[:-1]:
            if not create_parent:
                raise FileNotFound(f"{paths.parent(path)}: No such file or directory")
            result += self.mkdirs(checker, paths.parent(path), parent_permission, True, time_ms)
        else:
            checker.check(inodes, parent=Access.WRITE | Access.EXECUTE)
        group = next(inode for inode in reversed(inodes[:-1]) if inode is not None).group
        result.append(edits.AddFile(path, checker.user, group, permission, replication, block_size_bytes, time_ms, client_name))
        return result

    def reopen(self, checker: PermissionChecker, path: str, client_name: str, time_ms: int) -> list:
        """Append: the file must exist, be closed, and be writable by the caller."""
        inodes = self.resolve(path)
        inode = inodes[-1]
        if inode is None:
            raise FileNotFound(f"{path}: No such file or directory")
        if not isinstance(inode, INodeFile):
            raise PathIsDirectory(f"{path}: Is a directory")
        if inode.under_construction:
            raise AlreadyBeingCreated(f"{path}: Failed to APPEND_FILE: already being written by {inode.client_name}")
        checker.check(inodes, target=Access.WRITE)
        return [edits.ReopenFile(path, time_ms, client_name)]

    def rename(self, checker: PermissionChecker, source: str, destination: str, time_ms: int) -> list:
        if source == "/":
            raise InvalidPath("/: cannot rename the root")
        source_inodes = self.resolve(source)
        if source_inodes[-1] is None:
            raise FileNotFound(f"{source}: No such file or directory")
        destination_inode = self.resolve(destination)[-1]
        if destination_inode is not None and destination_inode.is_directory:
            destination = paths.join(destination, paths.name(source))
        if destination == source:
            return []
        if destination.startswith(source + "/"):
            raise InvalidPath(f"{source}: cannot move a directory into itself ({destination})")
        destination_inodes = self.resolve(destination)
        if destination_inodes[-1] is not None:
            raise FileAlreadyExists(f"{destination}: File exists")
        if destination_inodes[-2] is None:
            raise FileNotFound(f"{paths.parent(destination)}: No such file or directory")
        if not destination_inodes[-2].is_directory:
            raise ParentNotDirectory(f"{paths.parent(destination)}: Not a directory")
        checker.check(source_inodes, parent=Access.WRITE | Access.EXECUTE, check_sticky=True)
        checker.check(destination_inodes, parent=Access.WRITE | Access.EXECUTE)
        return [edits.Rename(source, destination, time_ms)]

    def delete(self, checker: PermissionChecker, path: str, recursive: bool, time_ms: int) -> list:
        if path == "/":
            raise InvalidPath("/: cannot delete the root directory")
        inodes = self.resolve(path)
        inode = inodes[-1]
        if inode is None:
            raise FileNotFound(f"{path}: No such file or directory")
        if isinstance(inode, INodeDirectory) and inode.children and not recursive:
            raise PathIsNotEmptyDirectory(f"{path}: Directory is not empty")
        checker.check(inodes, parent=Access.WRITE | Access.EXECUTE, check_sticky=True,
                      sub_access=Access.ALL if inode.is_directory else None)
        return [edits.Delete(path, time_ms)]

    # ------------------------------------------------------------ applying edits

    def apply(self, edit) -> list[BlockInfo]:
        """Carry out one edit; return the blocks it dropped (their replicas are now garbage)."""
        match edit:
            case edits.Mkdir(path, owner, group, permission, time_ms):
                self._parent_of(path).add(INodeDirectory(paths.name(path), owner, group, permission, time_ms))
            case edits.AddFile(path, owner, group, permission, replication, block_size, time_ms, client_name):
                parent = self._parent_of(path)
                parent.add(INodeFile(paths.name(path), owner, group, permission, time_ms, replication=replication,
                                     block_size_bytes=block_size, client_name=client_name))
                parent.modification_time_ms = time_ms
            case edits.AddBlock(path, block_id, generation_stamp, previous_length):
                inode = self.get_file(path)
                if previous_length >= 0:
                    self.blocks.commit(inode.blocks[-1], previous_length)
                block = BlockInfo(block_id, generation_stamp, 0, inode)
                inode.blocks.append(block)
                self.blocks.add_block(block)
            case edits.AbandonBlock(path, block_id):
                inode = self.get_file(path)
                assert inode.blocks and inode.blocks[-1].block_id == block_id, (path, block_id)
                block = inode.blocks.pop()
                self.blocks.remove_block(block)
                return [block]
            case edits.CloseFile(path, time_ms, last_block_length):
                inode = self.get_file(path)
                if inode.blocks and last_block_length >= 0:
                    self.blocks.commit(inode.blocks[-1], last_block_length)
                    for block in inode.blocks:
                        self.blocks.complete(block)
                inode.client_name = None
                inode.modification_time_ms = time_ms
            case edits.UpdateBlock(path, block_id, generation_stamp, length_bytes):
                block = self.get_file(path).blocks[-1]
                assert block.block_id == block_id, (path, block_id)
                self.blocks.update_generation(block, generation_stamp, length_bytes)
            case edits.Rename(source, destination, time_ms):
                source_parent = self._parent_of(source)
                inode = source_parent.remove(paths.name(source))
                inode.name = paths.name(destination)
                destination_parent = self._parent_of(destination)
                destination_parent.add(inode)
                source_parent.modification_time_ms = destination_parent.modification_time_ms = time_ms
            case edits.Delete(path, time_ms):
                parent = self._parent_of(path)
                removed = parent.remove(paths.name(path))
                parent.modification_time_ms = time_ms
                dropped = [block for inode in subtree(removed) if isinstance(inode, INodeFile) for block in inode.blocks]
                for block in dropped:
                    self.blocks.remove_block(block)
                return dropped
            case edits.SetReplication(path, replication):
                inode = self.get_file(path)
                inode.replication = replication
                for block in inode.blocks:
                    self.blocks.check_replication(block)
            case edits.SetPermission(path, permission):
                self.get(path).permission = permission
            case edits.SetOwner(path, owner, group):
                inode = self.get(path)
                inode.owner = owner or inode.owner
                inode.group = group or inode.group
            case edits.ReopenFile(path, time_ms, client_name):
                inode = self.get_file(path)
                assert not inode.under_construction, path
                inode.client_name = client_name
                inode.modification_time_ms = time_ms
            case edits.SetTimes(path, modification_time_ms):
                inode = self.get(path)
                if modification_time_ms >= 0:
                    inode.modification_time_ms = modification_time_ms
            case edits.SetGenerationStamp():
                pass  # the namesystem's counter (see Namesystem.replay), nothing in the tree
            case _:
                raise AssertionError(f"unknown edit {edit!r}")
        return []

    def _parent_of(self, path: str) -> INodeDirectory:
        parent = self.get(paths.parent(path))
        assert isinstance(parent, INodeDirectory), path
        return parent

    # ------------------------------------------------------------ image

    def to_image(self) -> list:
        """Every inode as a plain record, parents first (what the image stores)."""
        records = []
        for inode in subtree(self.root):
            if inode is self.root:
                records.append(["/", "D", inode.owner, inode.group, inode.permission, inode.modification_time_ms])
            elif isinstance(inode, INodeDirectory):
                records.append([inode.path(), "D", inode.owner, inode.group, inode.permission, inode.modification_time_ms])
            else:
                assert isinstance(inode, INodeFile)
                blocks = [[block.block_id, block.generation_stamp, block.length_bytes, block.state.value] for block in inode.blocks]
                records.append([inode.path(), "F", inode.owner, inode.group, inode.permission, inode.modification_time_ms,
                                inode.replication, inode.block_size_bytes, inode.client_name, blocks])
        return records

    def load_image(self, records: list) -> None:
        for record in records:
            path, kind, owner, group, permission, time_ms = record[:6]
            if path == "/":
                self.root.owner, self.root.group, self.root.permission = owner, group, permission
                self.root.modification_time_ms = time_ms
            elif kind == "D":
                self._parent_of(path).add(INodeDirectory(paths.name(path), owner, group, permission, time_ms))
            else:
                replication, block_size, client_name, blocks = record[6:]
                inode = INodeFile(paths.name(path), owner, group, permission, time_ms, replication=replication,
                                  block_size_bytes=block_size, client_name=client_name)
                self._parent_of(path).add(inode)
                for block_id, generation_stamp, length, state in blocks:
                    block = BlockInfo(block_id, generation_stamp, length, inode, BlockState(state))
                    inode.blocks.append(block)
                    self.blocks.add_block(block)
