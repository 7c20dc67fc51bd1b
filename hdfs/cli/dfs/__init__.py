"""`emrlab dfs`: the file system shell, with the forms and output of `hdfs dfs`.

Each subcommand is a function taking the client and its arguments; they are
listed in `COMMANDS` with Hadoop's usage line. As in Hadoop, a command with
several paths goes on after an error with one of them, prints
`<command>: <problem>` for it, and exits 1 at the end.

The commands are grouped as Hadoop's FsShell groups them, a module a group:
`listing` (-ls -du -count -stat -test -checksum), `display` (-cat -head -tail),
`copying` (-get -put -appendToFile -cp), `tree` (-mkdir -touchz -rm -rmdir -mv)
and `attributes` (-chmod -chown -chgrp -setrep), with what they share in
`common`. This module holds the table of commands and the entry point.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable

from emrlab_common.command import CommandContext
from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument
from hdfs import Client
from hdfs.cli.dfs.attributes import chgrp, chmod, chown, setrep
from hdfs.cli.dfs.common import UsageError
from hdfs.cli.dfs.copying import append_to_file, cp, get, put
from hdfs.cli.dfs.display import cat, head, tail
from hdfs.cli.dfs.listing import checksum, count, du, ls, stat, test
from hdfs.cli.dfs.tree import mkdir, mv, rm, rmdir, touchz
from hdfs.client.config import ClientConfig

REPLICATION_MAX = 512  # dfs.replication.max's default



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
