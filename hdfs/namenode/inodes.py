"""The namespace's nodes (inodes) and the permission checker that guards them.

An inode is a directory or a file. A file lists its blocks in order; the
blocks themselves (and where their replicas are) belong to the block manager.
Permissions are POSIX-like, as in HDFS: owner, group, nine rwx bits and the
sticky bit, checked by `PermissionChecker` the way Hadoop's
FSPermissionChecker does (EXECUTE to pass through every ancestor; the access
the operation needs on the parent or the inode itself; the superuser passes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hdfs.errors import AccessControl
from hdfs.protocol import STICKY_BIT, mode_string

if TYPE_CHECKING:
    from hdfs.namenode.blocks import BlockInfo

class Access(enum.IntFlag):
    EXECUTE = 1
    WRITE = 2
    READ = 4
    ALL = 7


@dataclass(eq=False)
class INode:
    name: str
    owner: str
    group: str
    permission: int
    modification_time_ms: int
    parent: INodeDirectory | None = field(default=None, repr=False)

    @property
    def is_directory(self) -> bool:
        return False

    def path(self) -> str:
        names = []
        node: INode | None = self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(names))

    def mode_string(self) -> str:
        return mode_string(self.permission, self.is_directory)


@dataclass(eq=False)
class INodeDirectory(INode):
    children: dict[str, INode] = field(default_factory=dict, repr=False)

    @property
    def is_directory(self) -> bool:
        return True

    def add(self, child: INode) -> None:
        assert child.name not in self.children, child.name
        child.parent = self
        self.children[child.name] = child

    def remove(self, name: str) -> INode:
        child = self.children.pop(name)
        child.parent = None
        return child


@dataclass(eq=False)
class INodeFile(INode):
    replication: int = 1
    block_size_bytes: int = 0
    blocks: list[BlockInfo] = field(default_factory=list, repr=False)
    client_name: str | None = None  # the lease holder while the file is being written

    @property
    def under_construction(self) -> bool:
        return self.client_name is not None

    def length_bytes(self) -> int:
        """The visible length: every block's length, but a block still being written counts 0."""
        return sum(block.length_bytes for block in self.blocks if not block.is_under_construction)


def subtree(inode: INode):
    """The inode and everything below it, parents before children.

    A loop over a stack, not recursion: any user can make a directory 1,000
    levels deep, and Python's recursion limit is about that.
    """
    stack = [inode]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, INodeDirectory):
            stack.extend(reversed(list(node.children.values())))


def subtree_height(inode: INode) -> int:
    """Levels below `inode` (0 for a file or an empty directory)."""
    height, stack = 0, [(inode, 0)]
    while stack:
        node, depth = stack.pop()
        height = max(height, depth)
        if isinstance(node, INodeDirectory):
            stack.extend((child, depth + 1) for child in node.children.values())
    return height


class PermissionChecker:
    def __init__(self, user: str, groups: frozenset[str], is_superuser: bool, enabled: bool = True):
        self.user = user
        self.groups = groups
        self.is_superuser = is_superuser or not enabled

    def check(
        self,
        inodes: list[INode | None],
        *,
        ancestor: Access | None = None,
        parent: Access | None = None,
        target: Access | None = None,
        sub_access: Access | None = None,
        check_sticky: bool = False,
    ) -> None:
        """Check access along a resolved path (`inodes[0]` is the root, `None` where missing).

        Every existing ancestor needs EXECUTE; the last existing ancestor needs
        `ancestor`; the parent `parent`; the inode itself `target`; with
        `sub_access`, every directory under the inode too (recursive delete).
        """
        if self.is_superuser:
            return
        existing = [inode for inode in inodes if inode is not None]
        last = inodes[-1]
        ancestors = existing[:-1] if last is not None else existing
        for inode in ancestors:
            self.require(inode, Access.EXECUTE)
        if ancestor is not None and ancestors:
            self.require(ancestors[-1], ancestor)
        if parent is not None and len(inodes) > 1 and inodes[-2] is not None:
            self.require(inodes[-2], parent)
        if check_sticky and len(inodes) > 1 and inodes[-2] is not None and last is not None:
            self.require_sticky_owner(inodes[-2], last)
        if target is not None and last is not None:
            self.require(last, target)
        if sub_access is not None and last is not None:
            for inode in subtree(last):
                if inode.is_directory:
                    self.require(inode, sub_access)

    def require(self, inode: INode, access: Access) -> None:
        if self.is_superuser:
            return
        if inode.owner == self.user:
            bits = inode.permission >> 6
        elif inode.group in self.groups:
            bits = inode.permission >> 3
        else:
            bits = inode.permission
        if bits & access != access:
            raise AccessControl(
                f"Permission denied: user={self.user}, access={access_name(access)}, "
                f'inode="{inode.path()}":{inode.owner}:{inode.group}:{inode.mode_string()}'
            )

    def require_sticky_owner(self, directory: INode, inode: INode) -> None:
        """In a sticky directory (like /tmp) only owners may delete or rename entries."""
        if directory.permission & STICKY_BIT and self.user not in (directory.owner, inode.owner):
            raise AccessControl(
                f"Permission denied by sticky bit: user={self.user}, path=\"{inode.path()}\":"
                f"{inode.owner}:{inode.group}:{inode.mode_string()}, parent=\"{directory.path()}\":"
                f"{directory.owner}:{directory.group}:{directory.mode_string()}"
            )

    def require_owner(self, inode: INode) -> None:
        if not self.is_superuser and inode.owner != self.user:
            raise AccessControl(f"Permission denied. user={self.user} is not the owner of inode={inode.path()}")


def access_name(access: Access) -> str:
    """Hadoop's FsAction names: READ, WRITE, EXECUTE, READ_WRITE, READ_EXECUTE, WRITE_EXECUTE, ALL."""
    names = {1: "EXECUTE", 2: "WRITE", 3: "WRITE_EXECUTE", 4: "READ", 5: "READ_EXECUTE", 6: "READ_WRITE", 7: "ALL"}
    return names[int(access)]
