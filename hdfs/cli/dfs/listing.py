"""Looking without changing: -ls, -du, -count, -stat, -test and -checksum.

Hadoop's Ls, FsUsage (-du), Count, Stat, Test and Checksum commands, with their
output columns. -du and -count ask the NameNode for a content summary (files,
directories, bytes and space consumed under a path) instead of walking the tree
from the client.
"""

from __future__ import annotations

from collections.abc import Callable

from emrlab_common.config import format_size
from hdfs import Client
from hdfs.cli.dfs.common import UsageError, descendants, each, format_time, require, take_flags
from hdfs.errors import FileNotFound
from hdfs.protocol import FileStatus


def ls(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "Rhdt")
    operands = operands or [client.resolve(".")]

    def list_one(path: str) -> None:
        status = client.status(path)
        if status.is_directory and "d" not in flags:
            if "R" in flags:
                entries = list(descendants(client, path))
            else:
                entries = client.list(path)
                print(f"Found {len(entries)} items")
        else:
            entries = [status]
        if "t" in flags:
            entries.sort(key=lambda item: item.modification_time_ms, reverse=True)
        print_listing(entries, human="h" in flags)

    return each(operands, list_one, "ls", client)


def print_listing(entries: list[FileStatus], human: bool = False) -> None:
    """Hadoop's `ls` columns, widths fitted to the entries."""
    rows = [(entry.mode_string(), "-" if entry.is_directory else str(entry.replication), entry.owner, entry.group,
             format_size(entry.length_bytes).replace(" ", "") if human else str(entry.length_bytes),
             format_time(entry.modification_time_ms), entry.path) for entry in entries]
    if not rows:
        return
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    for mode, replication, owner, group, size, modified, path in rows:
        print(f"{mode} {replication:>{widths[1]}} {owner:<{widths[2]}} {group:<{widths[3]}} {size:>{widths[4]}} {modified} {path}")


def du(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "sh")
    operands = operands or [client.resolve(".")]
    render = (lambda size: format_size(size)) if "h" in flags else str

    def du_one(path: str) -> None:
        status = client.status(path)
        if status.is_directory and "s" not in flags:
            targets = [entry.path for entry in client.list(path)]
        else:
            targets = [status.path]
        rows = []
        for target in targets:
            summary = client.content_summary(target)
            rows.append((render(summary.length_bytes), render(summary.space_consumed_bytes), target))
        if rows:
            widths = [max(len(row[column]) for row in rows) for column in range(2)]
            for size, consumed, target in rows:
                print(f"{size:<{widths[0]}}  {consumed:<{widths[1]}}  {target}")

    return each(operands, du_one, "du", client)


def count(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "h")
    render = (lambda size: format_size(size)) if "h" in flags else str

    def count_one(path: str) -> None:
        summary = client.content_summary(path)
        print(f"{summary.directory_count:>12} {summary.file_count:>12} {render(summary.length_bytes):>18} {client.resolve(path)}")

    require(operands, 1)
    return each(operands, count_one, "count", client)


STAT_FIELDS: dict[str, Callable[[FileStatus], str]] = {
    "b": lambda status: str(status.length_bytes),
    "F": lambda status: "directory" if status.is_directory else ("regular file" if status.length_bytes else "regular empty file"),
    "g": lambda status: status.group,
    "n": lambda status: status.name,
    "o": lambda status: str(status.block_size_bytes),
    "r": lambda status: str(status.replication),
    "u": lambda status: status.owner,
    "y": lambda status: format_time(status.modification_time_ms, seconds=True),
    "Y": lambda status: str(status.modification_time_ms),
    "a": lambda status: f"{status.permission & 0o1777:o}",
    "A": lambda status: status.mode_string()[1:],
}


def stat(client: Client, arguments: list[str]) -> int:
    require(arguments, 1)
    fmt, operands = ("%y", arguments) if len(arguments) == 1 or arguments[0].startswith(("/", "hdfs:")) else (arguments[0], arguments[1:])

    def stat_one(path: str) -> None:
        status = client.status(path)
        output, index = [], 0
        while index < len(fmt):
            if fmt[index] == "%" and index + 1 < len(fmt) and fmt[index + 1] in STAT_FIELDS:
                output.append(STAT_FIELDS[fmt[index + 1]](status))
                index += 2
            else:
                output.append(fmt[index])
                index += 1
        print("".join(output))

    return each(operands, stat_one, "stat", client)


def test(client: Client, arguments: list[str]) -> int:
    if len(arguments) != 2 or arguments[0] not in ("-e", "-d", "-f", "-s", "-z"):
        raise UsageError("-test needs one of -e -d -f -s -z and one path")
    try:
        status = client.status(arguments[1])
    except FileNotFound:
        return 1
    checks = {"-e": True, "-d": status.is_directory, "-f": not status.is_directory,
              "-s": status.length_bytes > 0, "-z": status.length_bytes == 0}
    return 0 if checks[arguments[0]] else 1


def checksum(client: Client, arguments: list[str]) -> int:
    require(arguments, 1)
    return each(arguments, lambda path: print(f"{client.resolve(path)}\t{client.file_checksum(path)}"), "checksum", client)
