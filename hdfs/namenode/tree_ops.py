"""The tree and its attributes, as Hadoop's FSDirMkdirOp, FSDirRenameOp, FSDirDeleteOp and FSDirAttrOp.

mkdir, rename, delete and the attributes (replication, permission, owner and
group, times). Part of the NameNode's state machine: `Namesystem` inherits
these handlers (the state and the checks they use are in `namespace_ops.py`).
"""

from __future__ import annotations

from emrlab_common.errors import InvalidArgument
from hdfs import paths
from hdfs.errors import AccessControl
from hdfs.namenode import edits
from hdfs.namenode.events import (
    Acknowledged,
    Command,
    Delete,
    Mkdirs,
    Rename,
    RenameReply,
    SetOwner,
    SetPermission,
    SetReplication,
    SetReplicationReply,
    SetTimes,
)
from hdfs.namenode.inodes import Access, INodeFile, subtree, subtree_height
from hdfs.namenode.namespace_ops import NamespaceOperations, milliseconds


class TreeOperations(NamespaceOperations):
    """The handlers of Mkdirs, Rename, Delete, SetReplication, SetPermission, SetOwner and SetTimes."""

    def _mkdirs(self, event: Mkdirs, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("create directory", event.path)
        self._check_permission(event.permission)
        self._check_fs_limits(event.path)
        for edit in self.namespace.mkdirs(self._checker(event.user), event.path, event.permission,
                                          event.create_parent, milliseconds(now_s)):
            self._commit(edit)
        return [Acknowledged()]

    def _rename(self, event: Rename, now_s: float) -> list[Command]:
        source = event.source
        self._refuse_in_safe_mode("rename", source)
        renames = self.namespace.rename(self._checker(event.user), source, event.destination, milliseconds(now_s))
        if renames:
            final = renames[0].destination
            self._check_fs_limits(final)
            levels = len(paths.components(final)) + subtree_height(self.namespace.get(source))
            if levels > paths.DEPTH_MAX:
                raise InvalidArgument(f"rename {paths.shown(source)} to {paths.shown(final)}: its deepest entry "
                                      f"would be {levels} levels deep; the limit is {paths.DEPTH_MAX}")
        for edit in renames:
            self._commit(edit)
        return [RenameReply(renames[0].destination if renames else source)]

    def _delete(self, event: Delete, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("delete", event.path)
        inode = self.namespace.get(event.path)
        for edit in self.namespace.delete(self._checker(event.user), event.path, event.recursive, milliseconds(now_s)):
            self._commit(edit)
        for node in subtree(inode):
            if isinstance(node, INodeFile) and node.under_construction:
                self.leases.remove(node.client_name, node)
        return [Acknowledged()]

    def _set_replication(self, event: SetReplication, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("set replication for", event.path)
        inodes = self.namespace.resolve(event.path)
        self.namespace.get_file(event.path)
        self._checker(event.user).check(inodes, target=Access.WRITE)
        replication, warning = self._checked_replication(event.replication)
        self._commit(edits.SetReplication(event.path, replication))
        return [SetReplicationReply(warning)]

    def _set_permission(self, event: SetPermission, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("set permission for", event.path)
        self._check_permission(event.permission)
        inodes = self.namespace.resolve(event.path)
        checker = self._checker(event.user)
        checker.check(inodes)
        checker.require_owner(self.namespace.get(event.path))
        self._commit(edits.SetPermission(event.path, event.permission & 0o1777))
        return [Acknowledged()]

    def _set_owner(self, event: SetOwner, now_s: float) -> list[Command]:
        path, owner, group = event.path, event.owner, event.group
        self._refuse_in_safe_mode("set owner for", path)
        inodes = self.namespace.resolve(path)
        inode = self.namespace.get(path)
        checker = self._checker(event.user)
        checker.check(inodes)
        checker.require_owner(inode)
        if not checker.is_superuser and owner and owner != inode.owner:
            raise AccessControl(f"Permission denied: only the superuser may change the owner of {path}")
        if not checker.is_superuser and group and group not in checker.groups:
            raise AccessControl(f"Permission denied: user={event.user} does not belong to {group}")
        self._commit(edits.SetOwner(path, owner, group))
        return [Acknowledged()]

    def _set_times(self, event: SetTimes, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("set times for", event.path)
        inodes = self.namespace.resolve(event.path)
        self.namespace.get(event.path)
        self._checker(event.user).check(inodes, target=Access.WRITE)
        self._commit(edits.SetTimes(event.path, event.modification_time_ms))
        return [Acknowledged()]
