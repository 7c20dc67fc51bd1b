"""What every `emrlab` command shares: generic options, and errors as one line.

Like Hadoop's GenericOptionsParser, `--dir DIR` and `-D key=value` may appear
anywhere before a `--`, and are taken out before the command parses the rest.
A command is a function `main(argv, context) -> exit code`; `run_command`
calls it and turns operating errors into `emrlab: <message>` on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import grpc

from emrlab_common import tls
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import parse_definition
from emrlab_common.errors import EmrlabError, InvalidArgument
from emrlab_common.rpc import translate

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEBUG_ENVIRONMENT_VARIABLE = "EMRLAB_DEBUG"


@dataclass
class CommandContext:
    """The generic options of one command line."""

    dir_flag: str | None = None
    definitions: dict[str, str] = field(default_factory=dict)

    @cached_property
    def cluster_dir(self) -> ClusterDir:
        cluster_dir = ClusterDir.resolve(self.dir_flag)
        tls.use_cluster(cluster_dir)  # secure mode: every peer this command reaches, with the owner's certificate
        return cluster_dir

    def properties(self) -> dict[str, str]:
        """The cluster's properties with this command's `-D` overrides on top."""
        merged = self.cluster_dir.properties()
        merged.update(self.definitions)
        return merged


class CommandParser(argparse.ArgumentParser):
    """argparse whose usage errors are one clear line (through `run_command`), not its own exit."""

    def error(self, message: str):
        raise InvalidArgument(f"{message} (see --help)")


def split_generic_options(argv: list[str]) -> tuple[list[str], CommandContext]:
    """Take `--dir` and `-D` out of `argv` (up to a `--`); return the rest and the context."""
    context = CommandContext()
    rest: list[str] = []
    index = 0
    while index < len(argv):
        argument = argv[index]
        if argument == "--":
            rest.extend(argv[index:])
            break
        if argument in ("--dir", "-D"):
            if index + 1 >= len(argv):
                raise InvalidArgument(f"{argument} needs a value")
            value = argv[index + 1]
            index += 2
        elif argument.startswith("--dir="):
            value, index = argument[len("--dir="):], index + 1
            argument = "--dir"
        elif argument.startswith("-D") and len(argument) > 2:
            value, index = argument[2:], index + 1
            argument = "-D"
        else:
            rest.append(argument)
            index += 1
            continue
        if argument == "--dir":
            context.dir_flag = value
        else:
            key, text = parse_definition(value)
            context.definitions[key] = text
    return rest, context


def error_line(error: BaseException) -> str:
    if isinstance(error, EmrlabError):
        return error.message
    if isinstance(error, grpc.RpcError):
        return translate(error).message
    return f"internal error: {type(error).__name__}: {error} (set {DEBUG_ENVIRONMENT_VARIABLE}=1 for the traceback)"


def run_command(command: Callable[[list[str], CommandContext], int], argv: list[str], prog: str = "emrlab") -> int:
    """Run one command; operating errors become one line on stderr and a non-zero exit."""
    try:
        rest, context = split_generic_options(argv)
        return command(rest, context) or EXIT_OK
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `emrlab dfs -cat big | head` closes our stdout early; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except SystemExit:
        raise
    except BaseException as error:
        if os.environ.get(DEBUG_ENVIRONMENT_VARIABLE) and not isinstance(error, EmrlabError):
            raise
        print(f"{prog}: {error_line(error)}", file=sys.stderr)
        return EXIT_FAILURE
