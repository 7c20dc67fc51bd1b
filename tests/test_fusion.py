"""A mapper fused with the map buffer (`mapreduce/task/fusion.py`) gives exactly what the mapper
run as a generator gives: the same file.out, counters, errors and tracebacks; and what cannot be
fused that way is run as it is."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import traceback
from contextlib import nullcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.errors import BadRecord
from mapreduce.api.job import Job, Step
from mapreduce.api.keys import decode_key
from mapreduce.api.partitioners import HashPartitioner
from mapreduce.task.fusion import fuse_mapper, fusion_enabled, summing, vectorising_enabled
from mapreduce.task.mapbuffer import MapOutputBuffer, SpillSettings
from mapreduce.task.phases import map_function
from mapreduce.task.segments import MAP_OUTPUT_INDEX_FILE, Segment, read_index
from tests.test_mapbuffer import _same, _summed, batches

RECORDS: dict[int, list] = {}  # line -> what the mappers below yield for it


def literal_pairs(key, line):
    for first, second in RECORDS[line]:
        yield first, second


def whole_records(key, line):
    for record in RECORDS[line]:
        yield record


def early_return(key, line):
    if line == 0:
        return
    for index, (first, second) in enumerate(RECORDS[line]):
        if index == 3:
            return RECORDS.setdefault(-1, []).append(line)  # evaluated, then dropped, as a generator does
        yield first, second


def nested_generator(key, line):
    def inner():
        yield from RECORDS[line]
    for first, second in inner():
        yield first, second


def not_a_pair(key, line):
    yield line


def divides(key, line):
    yield "a", 1
    yield "b", 1 // line


class _LineLists:
    """Text input as the task's reader gives it: pairs when iterated, or lists of lines."""

    def __init__(self, lists: list[list[str]]):
        self.lists = lists

    def line_lists(self):
        return iter(self.lists)

    def __iter__(self):
        return ((None, line) for lines in self.lists for line in lines)


def _collect(mapper, lines, fuse: bool, combine=None, limit_bytes=1 << 30, combine_sums=False):
    """(file.out's records by partition, counters) of the mapper over `lines` (or a _LineLists)."""
    counters = Counters()
    text = isinstance(lines, _LineLists)
    run = map_function(Step(mapper=mapper), text_input=text, fuse=fuse)
    with tempfile.TemporaryDirectory() as directory:
        buffer = MapOutputBuffer(directory, 2, HashPartitioner(), combine, False,
                                 SpillSettings(limit_bytes=limit_bytes), counters, combine_sums=combine_sums)
        buffer.collect(run(lines if text else ((None, line) for line in lines), buffer.sink))
        path = buffer.flush()
        counters.increment(names.TASK_COUNTER, names.MAP_OUTPUT_RECORDS, buffer.records_total)
        index = read_index(os.path.join(directory, MAP_OUTPUT_INDEX_FILE))
        output = [list(Segment.from_file(path, entry.offset, entry.length).records_iter()) for entry in index]
    return output, counters


@pytest.mark.parametrize("mapper", [literal_pairs, whole_records, early_return, nested_generator])
def test_mappers_that_can_be_fused_are(mapper):
    assert fuse_mapper(mapper) is not None


@settings(max_examples=150, deadline=None)
@given(batches, st.sampled_from([literal_pairs, whole_records, early_return, nested_generator]),
       st.booleans(), st.sampled_from([1 << 30, 256]))
def test_a_fused_mapper_gives_what_the_generator_gives(pairs_batches, mapper, combine, limit_bytes):
    RECORDS.clear()
    RECORDS.update(enumerate(pairs_batches))
    combiner = _summed if combine else None

    def outcome(fuse: bool):
        RECORDS.clear()
        RECORDS.update(enumerate(pairs_batches))
        try:
            # Fused, the buffer also sums counted keys itself, as a `yield key, sum(values)` combiner would.
            output, counters = _collect(mapper, range(len(pairs_batches)), fuse, combiner, limit_bytes,
                                        combine_sums=fuse and combine)
        except TypeError as error:  # the combiner's sum of values that do not add up
            return str(error), None, dict(RECORDS)
        return output, counters.as_dict(), dict(RECORDS)

    generator, fused = outcome(False), outcome(True)
    if generator[1] is None:
        assert fused == generator
    else:
        assert _same(fused[0], generator[0])
        assert fused[1:] == generator[1:]


def test_what_fails_in_the_generator_fails_alike_fused():
    RECORDS.clear()
    RECORDS.update({0: [("a", 1), ("a", "x")]})
    errors = []
    for fuse in (False, True):
        with pytest.raises(TypeError) as caught:
            _collect(literal_pairs, [0], fuse, _summed)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("fuse", [False, True])
def test_a_record_that_is_not_a_pair_is_a_bad_record_fused_or_not(fuse):
    with pytest.raises(BadRecord, match=r"the mapper must yield \(key, value\) pairs: cannot unpack non-iterable int"):
        _collect(not_a_pair, [5], fuse)


def test_an_error_in_a_fused_mapper_points_at_the_users_line():
    frames = []
    for fuse in (False, True):
        with pytest.raises(ZeroDivisionError) as caught:
            _collect(divides, [1, 0], fuse)
        last = traceback.extract_tb(caught.value.__traceback__)[-1]
        frames.append((last.filename, last.lineno, last.line, last.colno, last.end_colno))
    assert frames[0] == frames[1]
    assert frames[1][0] == __file__ and frames[1][2] == 'yield "b", 1 // line'


def one_per_line(key, line):
    yield line, 1


def test_text_read_a_list_of_lines_at_a_time_spills_where_the_generator_does():
    lists = [[f"w{(chunk * 3000 + index) % 1500}" for index in range(3000)] for chunk in range(3)]
    generator, fused = (_collect(one_per_line, _LineLists(lists), fuse, _summed, limit_bytes=40_000)
                        for fuse in (False, True))
    assert fused[1].task(names.SPILLED_RECORDS) > 3000  # it did spill more than once
    assert fused[1].as_dict() == generator[1].as_dict() and _same(fused[0], generator[0])


def annotated(key, line):
    def helper(word: NotDefinedAnywhere) -> NotDefinedAnywhere:  # noqa: F821 (never evaluated: future annotations)
        return word
    yield helper(str(line)), 1


def test_a_mapper_under_future_annotations_is_compiled_with_them():
    assert fuse_mapper(annotated) is not None
    assert _same(_collect(annotated, [1, 2], True)[0], _collect(annotated, [1, 2], False)[0])


class Counting(Job):
    def mapper_init(self):
        self.seen = 0
        yield "init", 1

    def mapper(self, key, line):
        self.seen += 1
        for word in line.split():
            yield word, 1

    def mapper_final(self):
        yield "seen", self.seen


def test_a_fused_method_keeps_its_object_and_its_init_and_final():
    job = Counting([])
    fused = fuse_mapper(job.mapper)
    assert fused.__self__ is job and fused.__name__ == "mapper" and fused.__qualname__ == "Counting.mapper"
    step = job.steps()[0]
    results = []
    for fuse in (False, True):
        job.seen = 0
        with tempfile.TemporaryDirectory() as directory:
            counters = Counters()
            buffer = MapOutputBuffer(directory, 1, HashPartitioner(), None, False, SpillSettings(1 << 30), counters)
            buffer.collect(map_function(step, text_input=True, fuse=fuse)([(None, "a b a"), (None, "b c")],
                                                                           buffer.sink))
            results.append((dict(buffer.counts), {k: list(v) for k, v in buffer.groups.items()},
                            buffer.records_total))
    assert results[0] == results[1]
    assert results[1][0] == {"init": 1, "a": 2, "b": 2, "c": 1} and results[1][2] == 7


def returns_a_list(key, line):
    return [(line, 1)]


def in_try(key, line):
    try:
        yield line, 1
    except TypeError:
        pass


def in_with(key, line):
    with nullcontext():
        yield line, 1


def delegates(key, line):
    yield from [(line, 1)]


def sends(key, line):
    received = yield line, 1
    print(received)


def with_default(key, line, times=1):
    yield line, times


def starred(key, line, *more):
    yield line, 1


def names_ours(key, line):
    _emrlab_n = 1
    yield line, _emrlab_n


def _decorated(function):
    @functools.wraps(function)
    def wrapper(*arguments):
        yield from function(*arguments)
    return wrapper


@_decorated
def decorated(key, line):
    yield line, 1


class Subclassed(Counting):
    def mapper(self, key, line):
        yield from super().mapper(key, line)


class UsesSuper(Counting):
    def mapper(self, key, line):
        for pair in super().mapper(key, line):
            yield pair


class Mangles:
    def __init__(self):
        self.__seen = 0

    def mapper(self, key, line):
        self.__seen += 1  # self._Mangles__seen: a copy compiled outside the class would not say so
        yield line, self.__seen


def looks_at_its_frame(key, line):
    yield line, sorted(locals())


def names_ours_in_a_lambda(key, line):
    value = (lambda _emrlab_v=1: _emrlab_v)()
    yield line, value


def _plain(key, line):
    yield "plain", 1


def _other(key, line):
    yield "other", 1


wrapped = functools.update_wrapper(_other, _plain)  # inspect would read _plain's source for it

namespace: dict = {}
exec("def from_a_string(key, line):\n    yield line, 1\n", namespace)


@pytest.mark.parametrize("mapper", [
    returns_a_list, in_try, in_with, delegates, sends, with_default, starred, names_ours, decorated,
    Subclassed([]).mapper, UsesSuper([]).mapper, Mangles().mapper, looks_at_its_frame, names_ours_in_a_lambda,
    wrapped, namespace["from_a_string"], lambda key, line: [(line, 1)],
    functools.partial(literal_pairs, None), len,
], ids=lambda mapper: getattr(mapper, "__name__", type(mapper).__name__))
def test_what_cannot_be_fused_exactly_runs_as_it_is(mapper):
    assert fuse_mapper(mapper) is None


def test_fusion_can_be_turned_off():
    assert fusion_enabled({}) and fusion_enabled({"emrlab.map.fuse": "true"})
    assert not fusion_enabled({"emrlab.map.fuse": "false"}) and not fusion_enabled({"emrlab.map.fuse": "False"})
    assert vectorising_enabled({}) and not vectorising_enabled({"emrlab.map.vectorise": "false"})
    assert not vectorising_enabled({"emrlab.map.fuse": "false"})  # it runs the fused mapper's lines


def test_a_mapper_whose_file_changed_since_it_was_imported_runs_as_imported(tmp_path, monkeypatch):
    module_path = tmp_path / "edited_job.py"
    module_path.write_text("def mapper(key, line):\n    yield 'old', 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    module = importlib.import_module("edited_job")
    try:
        assert fuse_mapper(module.mapper) is not None
        module_path.write_text("def mapper(key, line):\n    yield 'new', 1\n")
        os.utime(module_path, (1, 1))  # another modification time, however fast the test runs
        assert fuse_mapper(module.mapper) is None
        module_path.write_text('def mapper(key, line):\n    """\n')  # unterminated: tokenize fails
        os.utime(module_path, (2, 2))
        assert fuse_mapper(module.mapper) is None
    finally:
        sys.modules.pop("edited_job", None)


# ---------------------------------------------------------------- a summing combiner, recognised


def sums(key, values):
    yield key, sum(values)


def sums_documented(word, counts):
    """Adds up a word's counts."""
    yield (word, sum(counts))


class Summing(Job):
    def combiner(self, word, counts):
        yield word, sum(counts)

    def mapper(self, key, line):
        yield line, 1


def sums_with_a_start(key, values):
    yield key, sum(values, 1)


def sums_and_adds(key, values):
    yield key, sum(values) + 0


def sums_the_key(key, values):
    yield values, sum(key)


def sums_twice(key, values):
    yield key, sum(values)
    yield key, sum(values)


def counts_too(key, values):
    COUNTED.append(key)
    yield key, sum(values)


def returns_a_sum(key, values):
    return [(key, sum(values))]


def sum_is_a_parameter(key, sum):
    yield key, sum(sum)


def sums_with_a_default(key, values=()):
    yield key, sum(values)


COUNTED: list = []
shadowed: dict = {}
exec("sum = len\ndef sums(key, values):\n    yield key, sum(values)\n", shadowed)
elsewhere: dict = {}
exec("def sums(key, values):\n    yield key, sum(values)\n", elsewhere)


@pytest.mark.parametrize("combiner", [sums, sums_documented, Summing([]).combiner],
                         ids=lambda combiner: combiner.__qualname__)
def test_a_combiner_that_only_sums_is_recognised(combiner):
    assert summing(combiner)


@pytest.mark.parametrize("combiner", [
    sums_with_a_start, sums_and_adds, sums_the_key, sums_twice, counts_too, returns_a_sum, sum_is_a_parameter,
    sums_with_a_default, shadowed["sums"], elsewhere["sums"], Summing([]).mapper, Summing.combiner,
    functools.partial(sums, None), lambda key, values: iter([(key, sum(values))]), sum, None,
], ids=lambda combiner: getattr(combiner, "__qualname__", type(combiner).__name__))
def test_anything_else_is_called_as_it_is(combiner):
    """A start, another expression, the key and values swapped, more statements, a `sum` that is
    not the builtin, source that cannot be read (exec'd), the unbound method (three parameters)."""
    assert not summing(combiner)


@pytest.mark.parametrize("value, calls", [(1, 0), (5, 0), (True, 1), (1.0, 1)])
def test_a_summing_combiner_is_not_called_for_counted_ints(value, calls):
    """Counted keys of an int value are summed by the buffer (n * v); any other value still goes
    through the combiner, whose sum of floats or bools the buffer does not reproduce."""
    called = []

    def combine(groups):
        called.append(1)
        return ((key, sum(values)) for key, values in groups)

    pairs = [[("b", value), ("a", value)], [("b", value)]]
    with_sums = _collect(whole_records_of(pairs), range(len(pairs)), True, combine, combine_sums=True)
    assert len(called) == calls
    without = _collect(whole_records_of(pairs), range(len(pairs)), True, combine)
    assert _same(with_sums[0], without[0]) and with_sums[1].as_dict() == without[1].as_dict()
    assert sorted((decode_key(key), total) for part in with_sums[0] for key, total in part) == \
        [("a", value), ("b", value + value)]


def whole_records_of(pairs):
    def mapper(key, line):
        yield from pairs[line]
    return mapper


def test_a_sum_replaced_in_builtins_is_not_taken_for_the_builtin(monkeypatch):
    import builtins
    monkeypatch.setattr(builtins, "sum", lambda values: 0)
    assert not summing(sums)


def test_the_phases_say_when_the_combiner_only_sums():
    from mapreduce.examples.invertedindex import InvertedIndex
    from mapreduce.examples.wordcount import WordCount
    from mapreduce.task.steps import phases_of
    for job, expected in ((WordCount([]), True), (InvertedIndex([]), False)):
        step = job.steps()[0]
        assert phases_of(job, step, {}, None, ".").combine_sums is expected
        assert phases_of(job, step, {"emrlab.map.fuse": "false"}, None, ".").combine_sums is False
