"""Word count's mapper run over the bytes with numpy (`mapreduce/task/vectorised.py`) gives exactly
what the same mapper gives run line by line: the same words and counts on any input (every kind
of whitespace, control characters, NUL, non-ASCII and broken UTF-8, words of every length, lines
across batches), and the same file.out and counters from a real map attempt."""

from __future__ import annotations

import os
from collections import Counter
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.api.counters import Counters
from mapreduce.api.fs import LocalFileSystem
from mapreduce.api.partitioners import HashPartitioner
from mapreduce.examples.wordcount import WordCount
from mapreduce.task import vectorised
from mapreduce.task.attempt import NullReporter, TaskAttempt, run_map_attempt
from mapreduce.task.formats import INPUT_FORMAT_KEY, TEXT_FORMAT
from mapreduce.task.fusion import FUSE_KEY, VECTORISE_KEY, split_count
from mapreduce.task.mapbuffer import MapOutputBuffer, SpillSettings
from mapreduce.task.phases import text_value
from mapreduce.task.splits import InputSplit, line_count, split_lines

WORDCOUNT = os.path.join(os.path.dirname(vectorised.__file__), "..", "examples", "wordcount.py")

# Pieces of text that a line-by-line `str.split` and a byte-level reader could take differently.
PIECES = [b"a", b"b", b"word", b"Word,", b"abcdefgh", b"abcdefghi", b"abcdefghijklmnop", b"abcdefghijklmnopq",
          b"x" * 40, b"\x7f", b"~!", b" ", b"  ", b"\t", b"\n", b"\r\n", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1f",
          b"\x00", b"\x01", b"\x1b", b"\x0e", "é".encode(), "\u00a0".encode(), "\u2028".encode(), b"\x85",
          b"\xa0", b"\xff", b"\xc3", "日本".encode()]
texts = st.lists(st.sampled_from(PIECES), max_size=120).map(b"".join)


def line_by_line(data: bytes) -> tuple[Counter, int, int]:
    """(word counts, records, lines) of the mapper run on every line as the task reads them."""
    lines = split_lines(data) if data else []
    words = Counter(word for line in lines for word in text_value(line).split())
    return words, sum(words.values()), len(lines)


def vectorised_counts(chunks: list[bytes], room: int = 1 << 30) -> tuple[Counter, int]:
    counted: Counter = Counter()

    def add_counted(keys, times, value):
        assert value == 1 and len(set(keys)) == len(keys) and all(type(key) is str for key in keys)
        counted.update(dict(zip(keys, times)))

    def map_lines(lines):  # what the fused mapper does with the lines the batch path does not take
        words = [word for line in lines for word in text_value(line).split()]
        counted.update(words)
        return len(words)

    buffer = SimpleNamespace(add_counted=add_counted, counted_room=lambda: room)  # what count_words calls
    records = sum(vectorised.count_words(chunks, 1, map_lines, buffer))
    return counted, records


def whole_line_chunks(data: bytes, size: int) -> list[bytes]:
    """`data` cut into chunks of whole lines of about `size` bytes, as the reader cuts it."""
    chunks, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        chunks.append(data[start:end])
        start = end
    return chunks


@settings(max_examples=400, deadline=None)
@given(st.lists(texts, min_size=1, max_size=6).map(b"\n".join), st.sampled_from([1, 7, 64, 1 << 20]),
       st.sampled_from([1, 3, 1 << 20]))
def test_the_words_counted_over_the_bytes_are_those_str_split_finds_line_by_line(data, chunk_size, held):
    chunks = whole_line_chunks(data, chunk_size)
    expected, records, lines = line_by_line(data)
    assert sum(map(line_count, chunks)) == lines
    with pytest.MonkeyPatch.context() as patch:  # small batches, and the tally handed over early
        patch.setattr(vectorised, "BATCH_BYTES", chunk_size * 2)
        patch.setattr(vectorised, "HELD_WORDS", held)
        assert vectorised_counts(chunks) == (expected, records)
        assert vectorised_counts(chunks, room=2) == (expected, records)


def test_long_words_count_towards_what_the_tally_may_hold(monkeypatch):
    monkeypatch.setattr(vectorised, "BATCH_BYTES", 64)
    data = "".join(f"{'x' * 20}{n}\n" for n in range(200)).encode()  # 200 distinct words of over 16 bytes
    handed = []
    buffer = SimpleNamespace(add_counted=lambda keys, times, value: handed.append(len(keys)), counted_room=lambda: 10)
    assert sum(vectorised.count_words(whole_line_chunks(data, 64), 1, lambda lines: 0, buffer)) == 200
    assert sum(handed) == 200 and len(handed) > 10  # handed over as the room ran out, not all at the end


def test_every_kind_of_whitespace_and_word_length_at_once():
    words = [b"w" * length for length in range(1, 40)] + [b"\x7f~", b"A.", "naïve".encode(), b"a\x00b", b"c\x1bd"]
    separators = [b" ", b"\t", b"\x0b", b"\x0c", b"\r", b"\x1c", b"\x1d", b"\x1e", b"\x1f", "\u3000".encode(),
                  b"\xc2\x85", b"\xa0"]
    data = b"".join(word + separators[index % len(separators)] + (b"\n" if index % 5 == 4 else b"")
                    for index, word in enumerate(words * 3)) + b"last line without a newline"
    expected, records, _ = line_by_line(data)
    assert vectorised_counts([data]) == (expected, records)
    assert vectorised_counts(whole_line_chunks(data, 10)) == (expected, records)


# ---------------------------------------------------------------- recognising the mapper


def plain(key, line):
    for word in line.split():
        yield word, 1


def documented(key, value):
    """Each word, with a count of 7."""
    for token in value.split():
        yield token, 7


def in_thousands(key, line):
    for word in line.split():
        yield word, 1000


def lowered(key, line):
    for word in line.lower().split():
        yield word, 1


def split_on_commas(key, line):
    for word in line.split(","):
        yield word, 1


def counted_with_a_float(key, line):
    for word in line.split():
        yield word, 1.0


def counted_with_true(key, line):
    for word in line.split():
        yield word, True


def splits_the_key(key, line):
    for word in key.split():
        yield word, 1


def yields_the_line(key, line):
    for word in line.split():
        yield line, 1


def does_more(key, line):
    for word in line.split():
        yield word, 1
    yield "lines", 1


def with_else(key, line):
    for word in line.split():
        yield word, 1
    else:
        pass


def with_default(key, line, one=1):
    for word in line.split():
        yield word, one


@pytest.mark.parametrize("mapper, value", [(plain, 1), (documented, 7), (WordCount([]).mapper, 1)])
def test_word_counts_mapper_is_recognised_whatever_its_names(mapper, value):
    assert split_count(mapper) == value


def test_the_value_is_the_very_object_the_mapper_yields():
    # An int above 256 is not shared: the buffer counts a value that `is` the first one's.
    assert split_count(in_thousands) is next(value for value in in_thousands.__code__.co_consts if value == 1000)


@pytest.mark.parametrize("mapper", [lowered, split_on_commas, counted_with_a_float, counted_with_true,
                                    splits_the_key, yields_the_line, does_more, with_else, with_default,
                                    WordCount([]).combiner, None])
def test_any_other_mapper_is_not(mapper):
    assert split_count(mapper) is None


# ---------------------------------------------------------------- into the buffer


def test_counts_added_to_the_buffer_keep_keys_that_had_other_values_and_another_counted_value(tmp_path):
    buffer = MapOutputBuffer(str(tmp_path), 1, HashPartitioner(), None, False, SpillSettings(1 << 30), Counters())
    buffer._add("a", 2)  # a mapper_init's record: 2 becomes the counted value
    buffer._add("b", 1)
    buffer.add_counted(["a", "b"], [2, 3], 1)  # another value than the counted one: record by record
    assert buffer.counts == {} and buffer.groups == {"a": [2, 1, 1], "b": [1, 1, 1, 1]}
    buffer.add_counted(["a", "c"], [1, 4], 2)
    assert buffer.counts == {"c": 4} and buffer.groups == {"a": [2, 1, 1, 2], "b": [1, 1, 1, 1]}


def map_outcome(tmp_path, data: bytes, properties: dict, block: int) -> list:
    """file.out and the counters (but CPU time) of each split's map attempt over `data`."""
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    outcome = []
    for index, offset in enumerate(range(0, len(data), block)):
        local_dir = tmp_path / f"task-{len(os.listdir(tmp_path))}"
        attempt = TaskAttempt(job_id="job_test_0001", step_index=0, kind="map", task_index=index, attempt_index=0,
                              job_reference=f"{WORDCOUNT}:WordCount", job_arguments=(),
                              properties={INPUT_FORMAT_KEY: TEXT_FORMAT, "mapreduce.task.io.sort.mb": "1",
                                          **properties},
                              split=InputSplit(str(path), offset, min(block, len(data) - offset)), num_reduces=3,
                              num_maps=1, local_dir=str(local_dir), output_dir=str(tmp_path / "out"))
        result = run_map_attempt(attempt, LocalFileSystem(), NullReporter())
        counters = result.counters.as_dict()
        for group in counters.values():
            group.pop("CPU_MILLISECONDS", None)
        outcome.append(((local_dir / "file.out").read_bytes(), (local_dir / "file.out.index").read_bytes(), counters))
    return outcome


VECTORISED, FUSED, GENERATOR = {}, {VECTORISE_KEY: "false"}, {FUSE_KEY: "false"}


@pytest.fixture
def batches_counted(monkeypatch):
    """How many batches went through the numpy path; small batches."""
    counted = []
    count_words = vectorised._count_words
    monkeypatch.setattr(vectorised, "_count_words", lambda data, tally: counted.append(1) or count_words(data, tally))
    monkeypatch.setattr(vectorised, "BATCH_BYTES", 4096)
    return counted


def test_a_map_attempt_gives_the_same_file_out_and_counters_vectorised_or_not(tmp_path, batches_counted):
    lines = [" ".join(f"w{(index * 7919 + n) % 5000}" for n in range(index % 13)) for index in range(20_000)]
    lines[100] = "naïve café\u00a0au lait\x00nul"
    data = "\n".join(lines).encode("utf-8") + b"\r\nbroken \xff\xa0utf-8\r\nno newline at the end"
    for block in (len(data), 50_000):
        expected = map_outcome(tmp_path, data, GENERATOR, block)
        assert map_outcome(tmp_path, data, FUSED, block) == expected and not batches_counted
        assert map_outcome(tmp_path, data, VECTORISED, block) == expected and batches_counted
        batches_counted.clear()


SPILL_COUNTERS = ("SPILLED_RECORDS", "COMBINE_OUTPUT_RECORDS", "FILE_BYTES_WRITTEN")  # they move with the spills


def without(counters: dict, names: tuple) -> dict:
    return {group: {name: value for name, value in values.items() if name not in names}
            for group, values in counters.items()}


def test_with_spills_the_same_file_out_from_as_many_records(tmp_path, batches_counted):
    """60,000 distinct words overflow a 1 MiB sort buffer: both paths spill more than once, at
    other points (the tally is handed over a batch at a time), and merge to the same file.out."""
    lines = [" ".join(f"w{(index * 7919 + n) % 60_000}" for n in range(index % 13)) for index in range(40_000)]
    data = "\n".join(lines).encode()
    vectorised_map, = map_outcome(tmp_path, data, VECTORISED, len(data))
    plain_map, = map_outcome(tmp_path, data, GENERATOR, len(data))
    assert batches_counted
    assert vectorised_map[:2] == plain_map[:2]
    assert without(vectorised_map[2], SPILL_COUNTERS) == without(plain_map[2], SPILL_COUNTERS)
    for _, _, counters in (vectorised_map, plain_map):
        assert counters["org.apache.hadoop.mapreduce.TaskCounter"]["SPILLED_RECORDS"] > 60_000
