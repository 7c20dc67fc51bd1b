"""What every `emrlab dfs` command shares: flags, operand counts, and going on after a bad path.

Hadoop's FsShell gives each command the same frame: leading single-letter flags,
then operands; a command with several paths reports `<command>: <problem>` for
one that fails and goes on with the rest, exiting 1 at the end. Those rules live
here, with the walk over a directory tree (`descendants`) that -ls -R, -setrep
and -chmod -R share.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from emrlab_common.errors import EmrlabError, InvalidArgument
from hdfs import Client
from hdfs.paths import has_glob

PROGRESS_MIN_BYTES = 8 << 20


class UsageError(InvalidArgument):
    pass


def take_flags(arguments: list[str], allowed: str) -> tuple[set[str], list[str]]:
    """Leading single-letter flags (`-f`, `-R`, ...) from `allowed`; the rest are operands."""
    flags: set[str] = set()
    index = 0
    while index < len(arguments) and arguments[index].startswith("-") and len(arguments[index]) > 1:
        letters = arguments[index][1:]
        if not all(letter in allowed for letter in letters):
            raise UsageError(f"Illegal option {arguments[index]}")
        flags.update(letters)
        index += 1
    return flags, arguments[index:]


def require(operands: list[str], count_min: int, count_max: int | None = None) -> None:
    if len(operands) < count_min or (count_max is not None and len(operands) > count_max):
        raise UsageError("wrong number of arguments")


def each(paths: list[str], action: Callable[[str], None], command: str, client: Client | None = None) -> int:
    """Run `action` on every path; report failures Hadoop-style and keep going.

    With a `client`, the paths are HDFS paths and patterns (`/out/part-*`) are
    expanded, as FsShell expands them, so that they work even when quoted."""
    status = 0
    if client is not None:
        paths, status = _expand_globs(client, paths, command)
    for path in paths:
        try:
            action(path)
        except EmrlabError as error:
            print(f"{command}: {error.message}", file=sys.stderr)
            status = 1
    return status


def _expand_globs(client: Client, patterns: list[str], command: str) -> tuple[list[str], int]:
    paths, status = [], 0
    for pattern in patterns:
        if not has_glob(pattern):
            paths.append(pattern)
            continue
        matches = client.glob(pattern)
        if not matches:
            print(f"{command}: `{pattern}': No such file or directory", file=sys.stderr)
            status = 1
        paths += matches
    return paths, status


def format_time(time_ms: int, seconds: bool = False) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(time_ms / 1000))


def descendants(client: Client, path: str):
    """Everything under a directory, depth first, each directory's entries in name order (a loop: no recursion)."""
    listings = [iter(client.list(path))]
    while listings:
        entry = next(listings[-1], None)
        if entry is None:
            listings.pop()
            continue
        yield entry
        if entry.is_directory:
            listings.append(iter(client.list(entry.path)))
