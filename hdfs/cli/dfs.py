"""`emrlab dfs`: the file system shell, with the forms and output of `hdfs dfs`.

Each subcommand is a function taking the client and its arguments; they are
listed in `COMMANDS` with Hadoop's usage line. As in Hadoop, a command with
several paths goes on after an error with one of them, prints
`<command>: <problem>` for it, and exits 1 at the end.
"""

from __future__ import annotations

import difflib
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from emrlab_common.command import CommandContext
from emrlab_common.config import format_size, load
from emrlab_common.errors import EmrlabError, InvalidArgument
from emrlab_common.progress import ProgressLine
from hdfs import Client
from hdfs.cli.modes import parse_mode
from hdfs.client.config import ClientConfig
from hdfs.paths import has_glob
from hdfs.errors import FileAlreadyExists, FileNotFound, PathIsDirectory
from hdfs.protocol import FileStatus

PROGRESS_MIN_BYTES = 8 << 20
TAIL_BYTES = 1024
SETREP_WAIT_POLL_S = 0.5


REPLICATION_MAX = 512  # dfs.replication.max's default


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


# ---------------------------------------------------------------- listing and inspecting

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


# ---------------------------------------------------------------- reading

def cat(client: Client, arguments: list[str]) -> int:
    require(arguments, 1)

    def cat_one(path: str) -> None:
        with client.open(path) as source:
            for chunk in source.chunks():
                sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()

    return each(arguments, cat_one, "cat", client)


def head(client: Client, arguments: list[str]) -> int:
    require(arguments, 1, 1)
    with client.open(arguments[0]) as source:
        sys.stdout.buffer.write(source.read(TAIL_BYTES))
    sys.stdout.buffer.flush()
    return 0


def tail(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "f")
    require(operands, 1, 1)
    with client.open(operands[0]) as source:
        source.seek(max(0, source.length - TAIL_BYTES))
        sys.stdout.buffer.write(source.read())
    sys.stdout.buffer.flush()
    return 0


def get(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "fpc")
    require(operands, 1)
    sources, named = (operands[:-1], operands[-1]) if len(operands) > 1 else (operands, ".")
    destination = Path(named)
    if len(sources) > 1 and not destination.is_dir():
        raise UsageError(f"`{named}': Is not a directory")
    # As FsShell: a destination that names a directory (a trailing /) or lies in a missing one is not created.
    if not destination.is_dir() and (named.endswith("/") or not destination.parent.is_dir()):
        raise FileNotFound(f"`{named}': No such file or directory")

    def get_one(source: str) -> None:
        status = client.status(source)
        target = destination / status.name if destination.is_dir() else destination
        _download_tree(client, status, target, overwrite="f" in flags)

    return each(sources, get_one, "get", client)


def _download_tree(client: Client, status: FileStatus, target: Path, overwrite: bool) -> None:
    if status.is_directory:
        target.mkdir(exist_ok=True)
        for entry in client.list(status.path):
            _download_tree(client, entry, target / entry.name, overwrite)
        return
    if target.exists() and not overwrite:
        raise FileAlreadyExists(f"`{target}': File exists")
    with ProgressLine(f"get {status.name}", status.length_bytes, enabled=None if status.length_bytes >= PROGRESS_MIN_BYTES else False) as progress:
        client.download(status.path, target, progress=progress.advance)


# ---------------------------------------------------------------- writing

def put(client: Client, arguments: list[str], on_warning=None) -> int:
    flags, operands = take_flags(arguments, "fpdl")
    require(operands, 1)
    sources, destination = (operands[:-1], operands[-1]) if len(operands) > 1 else (operands, ".")
    destination_is_directory = client.exists(destination) and client.status(destination).is_directory
    if len(sources) > 1 and not destination_is_directory:
        raise UsageError(f"`{client.resolve(destination)}': Is not a directory")

    def put_one(source: str) -> None:
        if source == "-":
            with client.create(destination, overwrite="f" in flags, on_warning=on_warning) as target:
                while chunk := sys.stdin.buffer.read(1 << 20):
                    target.write(chunk)
            return
        local = Path(source)
        if not local.exists():
            raise FileNotFound(f"`{source}': No such file or directory")
        target = f"{client.resolve(destination)}/{local.name}" if destination_is_directory else destination
        _upload_tree(client, local, target, overwrite="f" in flags, on_warning=on_warning)

    return each(sources, put_one, "put")


def append_to_file(client: Client, arguments: list[str]) -> int:
    """Hadoop's -appendToFile: local files (or - for stdin) appended in order; the file is made if missing."""
    require(arguments, 2)
    sources, destination = arguments[:-1], arguments[-1]
    for source in sources:
        if source != "-" and not Path(source).is_file():
            raise FileNotFound(f"`{source}': No such file or directory")
    with (client.append(destination) if client.exists(destination) else client.create(destination)) as target:
        for source in sources:
            with (open(source, "rb") if source != "-" else nullcontext(sys.stdin.buffer)) as stream:
                while chunk := stream.read(1 << 20):
                    target.write(chunk)
    return 0


def _upload_tree(client: Client, local: Path, target: str, overwrite: bool, on_warning) -> None:
    if local.is_dir():
        client.mkdirs(target)
        for child in sorted(local.iterdir()):
            _upload_tree(client, child, f"{client.resolve(target)}/{child.name}", overwrite, on_warning)
        return
    if not overwrite and client.exists(target):
        raise FileAlreadyExists(f"`{client.resolve(target)}': File exists")
    parent = client.resolve(target).rsplit("/", 1)[0] or "/"
    if not client.exists(parent):
        raise FileNotFound(f"`{parent}': No such file or directory")
    size = local.stat().st_size
    with ProgressLine(f"put {local.name}", size, enabled=None if size >= PROGRESS_MIN_BYTES else False) as progress:
        client.upload(local, target, overwrite=overwrite, progress=progress.advance, on_warning=on_warning)


def mkdir(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "p")
    require(operands, 1)

    def mkdir_one(path: str) -> None:
        if "p" not in flags and client.exists(path):
            raise FileAlreadyExists(f"`{client.resolve(path)}': File exists")
        client.mkdirs(path, create_parent="p" in flags)

    return each(operands, mkdir_one, "mkdir")


def touchz(client: Client, arguments: list[str]) -> int:
    require(arguments, 1)

    def touch_one(path: str) -> None:
        if client.exists(path):
            status = client.status(path)
            if status.is_directory or status.length_bytes:
                raise FileAlreadyExists(f"`{status.path}': Not a zero-length file")
            return
        client.write_bytes(path, b"")

    return each(arguments, touch_one, "touchz")


def rm(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "frR")
    operands = [operand for operand in operands if operand != "-skipTrash"]
    require(operands, 1)

    def rm_one(path: str) -> None:
        try:
            status = client.status(path)
        except FileNotFound:
            if "f" in flags:
                return
            raise FileNotFound(f"`{client.resolve(path)}': No such file or directory") from None
        if status.is_directory and not flags & {"r", "R"}:
            raise PathIsDirectory(f"`{status.path}': Is a directory")
        client.delete(path, recursive=True)
        print(f"Deleted {status.path}")

    return each(operands, rm_one, "rm", client)


def rmdir(client: Client, arguments: list[str]) -> int:
    require(arguments, 1)

    def rmdir_one(path: str) -> None:
        if not client.status(path).is_directory:
            raise InvalidArgument(f"`{client.resolve(path)}': Is not a directory")
        client.delete(path, recursive=False)

    return each(arguments, rmdir_one, "rmdir", client)


def mv(client: Client, arguments: list[str]) -> int:
    require(arguments, 2)
    sources, destination = arguments[:-1], arguments[-1]
    if len(sources) > 1 and not (client.exists(destination) and client.status(destination).is_directory):
        raise UsageError(f"`{client.resolve(destination)}': Is not a directory")
    return each(sources, lambda source: client.rename(source, destination), "mv", client)


def cp(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "fpd")
    require(operands, 2)
    sources, destination = operands[:-1], operands[-1]
    into_directory = client.exists(destination) and client.status(destination).is_directory

    def copy(status: FileStatus, target: str) -> None:
        if status.is_directory:
            client.mkdirs(target)
            for entry in client.list(status.path):
                copy(entry, f"{target}/{entry.name}")
            return
        if client.exists(target) and "f" not in flags:
            raise FileAlreadyExists(f"`{client.resolve(target)}': File exists")
        with client.open(status.path) as source, client.create(target, overwrite=True) as sink:
            for chunk in source.chunks():
                sink.write(chunk)

    def cp_one(source: str) -> None:
        status = client.status(source)
        target = f"{client.resolve(destination)}/{status.name}" if into_directory else client.resolve(destination)
        if status.is_directory and target.startswith(status.path + "/"):
            raise InvalidArgument(f"`{target}': is a subdirectory of itself")
        copy(status, target)

    return each(sources, cp_one, "cp", client)


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


# ---------------------------------------------------------------- the table of commands

COMMANDS: dict[str, tuple[Callable, str]] = {
    "-ls": (ls, "[-R] [-h] [-d] [-t] [<path> ...]"),
    "-du": (du, "[-s] [-h] <path> ..."),
    "-count": (count, "[-h] <path> ..."),
    "-stat": (stat, "[format] <path> ...   (format: %b %F %g %n %o %r %u %y %Y %a %A)"),
    "-test": (test, "-[defsz] <path>"),
    "-checksum": (checksum, "<src> ..."),
    "-cat": (cat, "<src> ..."),
    "-head": (head, "<file>"),
    "-tail": (tail, "<file>"),
    "-get": (get, "[-f] <src> ... <localdst>"),
    "-copyToLocal": (get, "[-f] <src> ... <localdst>"),
    "-put": (put, "[-f] <localsrc> ... <dst>   (localsrc - reads stdin)"),
    "-copyFromLocal": (put, "[-f] <localsrc> ... <dst>"),
    "-appendToFile": (append_to_file, "<localsrc> ... <dst>   (localsrc - reads stdin)"),
    "-mkdir": (mkdir, "[-p] <path> ..."),
    "-touchz": (touchz, "<path> ..."),
    "-rm": (rm, "[-f] [-r|-R] [-skipTrash] <src> ..."),
    "-rmdir": (rmdir, "<dir> ..."),
    "-mv": (mv, "<src> ... <dst>"),
    "-cp": (cp, "[-f] <src> ... <dst>"),
    "-setrep": (setrep, "[-R] [-w] <rep> <path> ..."),
    "-chmod": (chmod, "[-R] <MODE[,MODE]... | OCTALMODE> <path> ..."),
    "-chown": (chown, "[-R] [OWNER][:[GROUP]] <path> ..."),
    "-chgrp": (chgrp, "[-R] GROUP <path> ..."),
}

WARNS = {put, setrep}

USAGE = """Usage: emrlab dfs [-D key=value] <command> [args]

{commands}

Paths are HDFS paths (hdfs:///a/b, /a/b, or relative to /user/<you>); -put and -get take local
paths on the local side.

examples:
  emrlab dfs -mkdir -p /data/in
  emrlab dfs -put words.txt /data/in
  emrlab dfs -ls -R /data
  emrlab dfs -D dfs.replication=2 -put big.log /data/in
  emrlab dfs -cat /data/out/part-r-00000 | head
"""


def usage() -> str:
    return USAGE.format(commands="\n".join(f"  {name} {synopsis}" for name, (_, synopsis) in COMMANDS.items()))


def replication_problem(replication: int) -> str | None:
    """Hadoop's words for a replication factor no file can have, else None."""
    if replication < 1:
        return f"Requested replication factor of {replication} is less than the required minimum of 1"
    if replication > REPLICATION_MAX:
        return f"Requested replication factor of {replication} exceeds maximum of {REPLICATION_MAX}"
    return None


def check_definitions(definitions: dict[str, str]) -> None:
    """-D values the client will use, checked before anything is written."""
    config = load(ClientConfig, definitions)
    problem = "dfs.replication" in definitions and replication_problem(config.replication)
    if problem:
        raise InvalidArgument(f"dfs.replication: {problem}")


def main(argv: list[str], context: CommandContext) -> int:
    if not argv or argv[0] in ("-help", "-usage", "--help", "-h"):
        print(usage(), end="")
        return 0 if argv else 2
    name, arguments = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        print(f"{name}: Unknown command ({hint}emrlab dfs -help lists the commands)", file=sys.stderr)
        return 2
    handler, synopsis = COMMANDS[name]
    check_definitions(context.definitions)
    client = Client.for_cluster(context.cluster_dir, properties=context.definitions)
    try:
        if handler in WARNS:
            return handler(client, arguments, on_warning=lambda text: print(f"WARN: {text}", file=sys.stderr))
        return handler(client, arguments)
    except UsageError as error:
        print(f"{name[1:]}: {error.message}\nUsage: emrlab dfs {name} {synopsis}", file=sys.stderr)
        return 2
    finally:
        client.close()
        sys.stdout.flush()
