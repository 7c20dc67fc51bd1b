"""A step's map, combine and reduce phases, as the functions the tasks call.

Whatever a step is made of (Python generator methods with their `_init` and
`_final`, or Hadoop Streaming commands), the tasks see three functions:

    map(records[, sink]) -> batches of (key, value) pairs (one batch per mapper call;
                            given a map buffer's sink, a fused mapper's batches are counts)
    combine(groups) -> (key, value) pairs              (None when there is no combiner)
    reduce(groups)  -> (key, value) pairs

where `groups` yields (key, values) with the keys in sorted order. Batches let
the map-side buffer loop over a mapper call's output directly, without one
more generator between the user's `yield` and the buffer.

This module builds the phases of Python methods; `streaming/streamjob.py` builds
those of commands, and `steps.py` chooses between them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, starmap
from operator import is_not

from mapreduce.api.job import Step, iterate
from mapreduce.task.fusion import fuse_mapper, split_count, summing
from mapreduce.task.mapbuffer import SPILL_CHECK_RECORDS
from mapreduce.task.vectorised import count_words


@dataclass
class Phases:
    map: Callable[..., Iterable[Iterable[tuple] | int]]  # (records[, sink])
    combine: Callable[[Iterator[tuple]], Iterator[tuple]] | None
    reduce: Callable[[Iterator[tuple]], Iterator[tuple]]
    sort_values: bool = False
    combine_sums: bool = False  # the combiner is `yield key, sum(values)` (fusion.summing)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in self.closers:
            closer()


def map_function(step: Step, text_input: bool = False, fuse: bool = True, vectorise: bool = True):
    """The map phase of Python methods. With `text_input`, a line that is not UTF-8 (its bad
    bytes kept by the reader as surrogates, for Streaming) reaches the mapper decoded as
    latin-1, as mrjob decodes it, rather than with its bytes silently replaced. Given a map
    buffer's `sink`, a mapper that can be fused with the buffer (`fusion.py`, unless `fuse`
    is off) puts its records in itself, and each call's batch is how many it put; word count's
    mapper over text is run over the bytes instead (`vectorised.py`, unless `vectorise` is off)."""
    mapper, mapper_init, mapper_final = step.mapper, step.mapper_init, step.mapper_final

    def run(records: Iterator[tuple], sink: list | None = None) -> Iterator[Iterable[tuple] | int]:
        # Fused when a map task runs it into a buffer, not when any task builds its phases.
        fused = fuse_mapper(mapper) if fuse and sink is not None and mapper is not None else None
        if mapper_init is not None:
            yield iterate(mapper_init)
        if mapper is None:
            # the identity mapper: records pass straight through
            yield ((key, text_value(value)) for key, value in records) if text_input else records
        elif fused is not None:
            line_lists = getattr(records, "line_lists", None) if text_input else None
            byte_chunks = getattr(records, "byte_chunks", None) if text_input else None
            value = split_count(mapper) if vectorise and byte_chunks is not None else None
            if value is not None:  # word count's mapper, run over the bytes (vectorised.py)
                def map_lines(lines: list[str]) -> int:
                    return sum(fused(None, text_value(line), sink) for line in lines)

                yield from count_words(byte_chunks(), value, map_lines, sink[5])  # the buffer
            elif line_lists is None:
                for key, value in records:
                    yield fused(key, text_value(value) if text_input else value, sink)
            else:  # a list of lines at a time, with no generator step per line
                count = 0
                for lines in line_lists():
                    for line in lines:
                        count += fused(None, text_value(line), sink)
                        if count >= SPILL_CHECK_RECORDS:  # after the line the buffer would check after
                            yield count
                            count = 0
                yield count
        else:
            for key, value in records:  # a mapper may count and return None
                yield mapper(key, text_value(value) if text_input else value) or ()
        if mapper_final is not None:
            yield iterate(mapper_final)

    return run


def text_value(line: str) -> str:
    """A line of text input as the mapper gets it (see `map_function`)."""
    return line if line.isascii() else _decodable(line)


def _decodable(line: str) -> str:
    try:
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:
        return line.encode("utf-8", "surrogateescape").decode("latin-1")


_NOT_NONE = partial(is_not, None)


def combiner_sums(step: Step, fuse: bool = True) -> bool:
    """Whether the step's combiner is `yield key, sum(values)` alone, with no _init or _final
    (`fusion.summing`), so that the map buffer may sum a counted key itself."""
    return (fuse and step.combiner is not None and step.combiner_init is None and step.combiner_final is None
            and summing(step.combiner))


def group_function(function, function_init, function_final):
    """A reducer (or combiner) over (key, values) groups, with its _init and _final.

    The groups are driven by C loops (`starmap` calls the method on each group, `chain` takes
    each record it yields), not by one more Python generator around the user's: resuming that
    generator for every record was a fifth of a word count's combine. A method that returns
    None (it only counts) gives no records."""

    def run(groups: Iterator[tuple]) -> Iterator[tuple]:
        if function is None:
            body = ((key, value) for key, values in groups for value in values)
        else:
            body = chain.from_iterable(filter(_NOT_NONE, starmap(function, groups)))
        if function_init is None and function_final is None:
            return body
        return chain(_later(function_init), body, _later(function_final))

    return run


def _later(method) -> Iterator[tuple]:
    """An _init's or _final's records, the method called only when they are first asked for."""
    if method is not None:
        yield from iterate(method)


def subprocess_environment(properties: dict) -> dict[str, str]:
    """Hadoop's task environment: every configuration key as a variable, with the
    characters a shell variable cannot hold (dots first) turned into underscores."""
    environment = dict(os.environ)
    for key, value in properties.items():
        environment["".join(c if c.isalnum() or c == "_" else "_" for c in key)] = str(value)
    return environment
