"""Every example job on the inline and local runners, against a sequential reference computed here."""

from __future__ import annotations

import collections
import json
import re

import pytest

from mapreduce.api import counters as names
from tests.mapreduce_helpers import output_lines, run_job, write_corpus

RUNNERS = ["inline", "local"]


@pytest.fixture
def corpus(tmp_path):
    return [write_corpus(tmp_path / "in" / f"part-{index}.txt", 500, seed=index) for index in range(2)]


def text_of(paths) -> str:
    return "".join(path.read_text(encoding="utf-8") for path in paths)


def assert_two_by_two(result):
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 2
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_REDUCES) >= 2


@pytest.mark.parametrize("runner", RUNNERS)
def test_wordcount(tmp_path, corpus, runner):
    result = run_job("mapreduce.examples.wordcount:WordCount", [tmp_path / "in"], tmp_path / "out", runner)
    got = {word: int(count) for word, count in (line.split("\t") for line in output_lines(tmp_path / "out"))}
    assert got == dict(collections.Counter(text_of(corpus).split()))
    assert_two_by_two(result)


@pytest.mark.parametrize("runner", RUNNERS)
def test_grep_counts_matches_most_frequent_first(tmp_path, corpus, runner):
    pattern = r"[a-z]*o[a-z]*"
    result = run_job("mapreduce.examples.grep:Grep", corpus, tmp_path / "out", runner,
                     arguments=("--pattern", pattern))
    counts = collections.Counter(re.findall(pattern, text_of(corpus)))
    counts.pop("", None)
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    got = [(match, int(count)) for match, count in (line.split("\t") for line in output_lines(tmp_path / "out"))]
    assert got == [item for item in expected if item[0]]
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 4  # two steps, two maps each


@pytest.mark.parametrize("runner", RUNNERS)
def test_inverted_index(tmp_path, corpus, runner):
    result = run_job("mapreduce.examples.invertedindex:InvertedIndex", corpus, tmp_path / "out", runner)
    expected = collections.defaultdict(set)
    for path in corpus:
        for word in path.read_text(encoding="utf-8").lower().split():
            expected[word].add(path.name)
    got = {word: json.loads(files) for word, files in (line.split("\t") for line in output_lines(tmp_path / "out"))}
    assert got == {word: sorted(files) for word, files in expected.items()}
    assert_two_by_two(result)


@pytest.mark.parametrize("runner", RUNNERS)
def test_sort_gives_one_total_order_across_reducers(tmp_path, corpus, runner):
    result = run_job("mapreduce.examples.sort:Sort", corpus, tmp_path / "out", runner,
                     properties={"mapreduce.job.reduces": "3"}, arguments=("--samples", "200"))
    lines = text_of(corpus).splitlines()
    assert output_lines(tmp_path / "out") == sorted(lines, key=lambda line: line.encode("utf-8"))
    parts = sorted((tmp_path / "out").glob("part-r-*"))
    assert len(parts) == 3 and all(part.stat().st_size > 0 for part in parts)
    assert_two_by_two(result)


@pytest.mark.parametrize("runner", RUNNERS)
def test_join_of_two_inputs(tmp_path, runner):
    left, right = tmp_path / "users", tmp_path / "orders"
    left.mkdir()
    right.mkdir()
    users = [f"{user}\tname-{user}" for user in range(0, 60)]
    orders = [f"{order % 80}\titem-{order}" for order in range(200)]
    (left / "a.txt").write_text("\n".join(users[:30]) + "\n")
    (left / "b.txt").write_text("\n".join(users[30:]) + "\n")
    (right / "orders.txt").write_text("\n".join(orders) + "\n")
    result = run_job("mapreduce.examples.join:Join", [left, right], tmp_path / "out", runner)
    expected = sorted(f"{u.split(chr(9))[0]}\t{u.split(chr(9))[1]}\t{o.split(chr(9))[1]}"
                      for u in users for o in orders if u.split("\t")[0] == o.split("\t")[0])
    assert sorted(output_lines(tmp_path / "out")) == expected
    assert_two_by_two(result)
