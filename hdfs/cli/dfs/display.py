"""Reading a file to the terminal: -cat, -head and -tail (Hadoop's Display, Head and Tail)."""

from __future__ import annotations

import sys

from hdfs import Client
from hdfs.cli.dfs.common import each, require, take_flags

TAIL_BYTES = 1024



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
    _follow, operands = take_flags(arguments, "f")
    require(operands, 1, 1)
    with client.open(operands[0]) as source:
        source.seek(max(0, source.length - TAIL_BYTES))
        sys.stdout.buffer.write(source.read())
    sys.stdout.buffer.flush()
    return 0
