"""Leases: one writer per file, and what happens when a writer goes quiet.

A client that creates a file holds its lease and renews it (all its files at
once) while it writes. If it stops renewing for the hard limit, its lease
expires and the NameNode recovers each of its files: the last block is settled
at the length its replicas agree on and the file is closed, so no reader waits
forever and no acknowledged byte is lost.

Rebuilt at start: every file still under construction in the namespace gets a
fresh lease for its holder, which then has the full hard limit to come back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hdfs.namenode.inodes import INodeFile


@dataclass(eq=False)
class Lease:
    holder: str
    last_renewed_s: float
    files: set[INodeFile] = field(default_factory=set)


class LeaseManager:
    def __init__(self, hard_limit_s: float):
        self.hard_limit_s = hard_limit_s
        self.by_holder: dict[str, Lease] = {}

    def add(self, holder: str, inode: INodeFile, now_s: float) -> None:
        lease = self.by_holder.setdefault(holder, Lease(holder, now_s))
        lease.last_renewed_s = now_s
        lease.files.add(inode)

    def remove(self, holder: str, inode: INodeFile) -> None:
        lease = self.by_holder.get(holder)
        if lease is None:
            return
        lease.files.discard(inode)
        if not lease.files:
            del self.by_holder[holder]

    def renew(self, holder: str, now_s: float) -> bool:
        lease = self.by_holder.get(holder)
        if lease is None:
            return False
        lease.last_renewed_s = now_s
        return True

    def expired_files(self, now_s: float) -> list[tuple[str, INodeFile]]:
        """(holder, file) for every file under a lease past the hard limit: what lease recovery must settle."""
        return [(lease.holder, inode) for lease in self.by_holder.values()
                if now_s - lease.last_renewed_s > self.hard_limit_s for inode in lease.files]

    def __len__(self) -> int:
        return len(self.by_holder)

    def validate_state(self) -> None:
        """Every lease is its holder's, holds a file, and each file it holds is one its holder is writing."""
        for holder, lease in self.by_holder.items():
            assert lease.holder == holder and lease.files, lease
            for inode in lease.files:
                assert inode.client_name == holder, f"{holder}'s lease on {inode.name}, written by {inode.client_name}"
