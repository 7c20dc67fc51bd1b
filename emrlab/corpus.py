"""A reproducible text corpus for the demo and the benchmarks.

Real text is heavy to ship and its licence must be checked; what a word count
needs from it is only its shape: a few words that are very common and a long
tail of rare ones (Zipf's law), in lines of uneven length. So the corpus is
drawn from a fixed vocabulary with Zipfian frequencies and a seeded generator:
the same seed and size give the same bytes on every machine, which is what a
benchmark and a test need.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy

# The most frequent English words, in rank order, then some that give the tail
# a recognisable theme.
COMMON_WORDS = """
the of and to a in is it you that he was for on are with as his they be at one have this from or
had by not word but what some we can out other were all there when up use your how said an each she
which do their time if will way about many then them write would like so these her long make thing
see him two has look more day could go come did number sound no most people my over know water than
call first who may down side been now find any new work part take get place made live where after
back little only round man year came show every good me give our under name very through just form
sentence great think say help low line differ turn cause much mean before move right boy old too same
tell does set three want air well also play small end put home read hand port large spell add even
land here must big high such follow act why ask men change went light kind off need house picture try
again animal point mother world near build self earth father head stand own page should country found
answer school grow study still learn plant cover food sun four between state keep eye never last let
thought city tree cross farm hard start might story saw far sea draw left late run while press close
night real life few north open seem together next white children begin got walk example ease paper
""".split()
THEME_WORDS = """
block replica datanode namenode heartbeat container mapper reducer shuffle partition split spill merge
combiner counter attempt cluster primary core task spot preemption scheduler queue lease checkpoint
journal image safemode pipeline packet checksum scanner locality rack yarn hadoop elastic mapreduce
""".split()
VOCABULARY = COMMON_WORDS + THEME_WORDS
ZIPF_EXPONENT = 1.1
WORDS_PER_LINE_MIN, WORDS_PER_LINE_MAX = 4, 16
WORDS_PER_BATCH = 1 << 18


def word_probabilities(vocabulary_size: int = len(VOCABULARY), exponent: float = ZIPF_EXPONENT) -> numpy.ndarray:
    ranks = numpy.arange(1, vocabulary_size + 1, dtype=numpy.float64)
    weights = ranks ** -exponent
    return weights / weights.sum()


def corpus_chunks(size_bytes: int, seed: int = 1) -> Iterator[bytes]:
    """Yield chunks of whole lines whose total length is exactly `size_bytes`."""
    random = numpy.random.default_rng(seed)
    probabilities = word_probabilities()
    words = numpy.array(VOCABULARY, dtype=object)
    remaining = size_bytes
    while remaining > 0:
        drawn = words[random.choice(len(VOCABULARY), size=WORDS_PER_BATCH, p=probabilities)]
        lengths = random.integers(WORDS_PER_LINE_MIN, WORDS_PER_LINE_MAX + 1, size=WORDS_PER_BATCH // WORDS_PER_LINE_MIN)
        ends = numpy.cumsum(lengths)
        ends = ends[ends <= WORDS_PER_BATCH]
        starts = numpy.concatenate(([0], ends[:-1]))
        text = "".join(" ".join(drawn[start:end]) + "\n" for start, end in zip(starts, ends)).encode()
        chunk = text if len(text) <= remaining else _fill_to(text[:text.rfind(b"\n", 0, remaining) + 1], remaining)
        remaining -= len(chunk)
        yield chunk


def _fill_to(lines: bytes, size_bytes: int) -> bytes:
    """Pad whole lines with one last line of short words, to end exactly at `size_bytes`."""
    gap = size_bytes - len(lines)
    if gap == 0:
        return lines
    if gap == 1:
        return lines + b"\n"
    words = ["an"] if gap % 2 else []
    words += ["a"] * ((gap - 3 * len(words)) // 2)
    return lines + " ".join(words).encode() + b"\n"


def write_corpus(path: str | Path, size_bytes: int, seed: int = 1) -> Path:
    path = Path(path)
    with open(path, "wb") as output:
        for chunk in corpus_chunks(size_bytes, seed):
            output.write(chunk)
    return path
