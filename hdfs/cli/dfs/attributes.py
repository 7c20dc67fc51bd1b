"""Changing what a file is, not what it holds: -chmod, -chown, -chgrp and -setrep.

Hadoop's FsShellPermissions and SetReplication. -R applies a change to every
entry under a directory; -setrep -w then waits until every block has as many
replicas as asked for (the NameNode re-replicates or trims in the background).
"""

from __future__ import annotations

import time

from hdfs import Client
from hdfs.cli.dfs.common import UsageError, descendants, each, require, take_flags
from hdfs.cli.modes import parse_mode
from hdfs.protocol import FileStatus

SETREP_WAIT_POLL_S = 0.5



def setrep(client: Client, arguments: list[str], on_warning=None) -> int:
    flags, operands = take_flags(arguments, "Rw")
    require(operands, 2)
    try:
        replication = int(operands[0])
    except ValueError:
        raise UsageError(f"invalid replication {operands[0]!r}") from None
    files: list[str] = []

    def setrep_one(path: str) -> None:
        status = client.status(path)
        if status.is_directory:
            targets = [entry.path for entry in descendants(client, path) if not entry.is_directory]
        else:
            targets = [status.path]
        for target in targets:
            warning = client.set_replication(target, replication)
            if warning and on_warning:
                on_warning(warning)
            print(f"Replication {replication} set: {target}")
            files.append(target)

    result = each(operands[1:], setrep_one, "setrep")
    if "w" in flags:
        for target in files:
            wanted = client.status(target).replication
            print(f"Waiting for {target} ...", end="", flush=True)
            while not all(len(location.hosts) == wanted for location in client.block_locations(target)):
                print(".", end="", flush=True)
                time.sleep(SETREP_WAIT_POLL_S)
            print(" done")
    return result


def chmod(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "R")
    require(operands, 2)
    mode = operands[0]

    def chmod_one(path: str) -> None:
        for target in _targets(client, path, "R" in flags):
            client.chmod(target.path, parse_mode(mode, target.permission, target.is_directory))

    return each(operands[1:], chmod_one, "chmod", client)


def chown(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "R")
    require(operands, 2)
    owner, _, group = operands[0].partition(":")
    if not owner and not group:
        raise UsageError(f"invalid owner {operands[0]!r} (use OWNER, OWNER:GROUP or :GROUP)")

    def chown_one(path: str) -> None:
        for target in _targets(client, path, "R" in flags):
            client.chown(target.path, owner, group)

    return each(operands[1:], chown_one, "chown", client)


def chgrp(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "R")
    require(operands, 2)
    return chown(client, (["-R"] if "R" in flags else []) + [":" + operands[0], *operands[1:]])


def _targets(client: Client, path: str, recursive: bool) -> list[FileStatus]:
    status = client.status(path)
    if not recursive or not status.is_directory:
        return [status]
    return [status, *descendants(client, path)]
