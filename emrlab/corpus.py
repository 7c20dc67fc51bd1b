"""A reproducible text corpus for the demo and the benchmarks.

Real text is heavy to ship and its licence must be checked; what a word count
needs from it is only its shape, and that shape decides how much a combiner
can fold away: a few words that are very common and a long tail of rare ones
(Zipf's law) over a large vocabulary, punctuation glued to words, capitals at
sentence starts (after . ! ?), and lines of very uneven length. So the corpus is drawn with
a seeded generator from a fixed vocabulary of VOCABULARY_SIZE words (the most
common English words first, then made-up words, shorter ones more frequent,
as in real text): the same seed and size give the same bytes on every
machine, which is what a benchmark and a test need.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy

# The most frequent English words, in rank order, then some that give the
# vocabulary a recognisable theme; made-up words fill it up to VOCABULARY_SIZE.
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
VOCABULARY_SIZE = 100_000
VOCABULARY_SEED = 2026
ZIPF_EXPONENT = 1.05
WORDS_PER_LINE_MEAN = 10  # geometric: most lines short, a few very long
WORDS_PER_LINE_MAX = 80
BLANK_LINE_PROBABILITY = 0.02
# Marks glued to the word before them, with their probabilities; after . ! ? a capital follows.
MARKS = ["", ",", ".", ";", ":", "!", "?"]
MARK_PROBABILITIES = [0.87, 0.06, 0.05, 0.005, 0.005, 0.005, 0.005]
SENTENCE_ENDS = (2, 5, 6)
WORDS_PER_BATCH = 1 << 18
_ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl pr sh st th tr".split()
_VOWELS = "a e i o u ai ea ee ie oo ou".split()
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng"]


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """The common and theme words, then made-up words (syllable, syllable, ending), shortest first."""
    words = list(dict.fromkeys(COMMON_WORDS + THEME_WORDS))
    known = set(words)
    syllables = [onset + vowel for onset in _ONSETS for vowel in _VOWELS]
    endings = len(syllables) * len(_CODAS)
    # Draw more than needed: some spell a real word ("sea") or another made-up one, and are skipped.
    drawn = numpy.random.default_rng(VOCABULARY_SEED).choice(
        len(syllables) * endings, size=VOCABULARY_SIZE * 5 // 4, replace=False)
    made_up = []
    for index in drawn.tolist():
        first, rest = divmod(index, endings)
        second, coda = divmod(rest, len(_CODAS))
        word = syllables[first] + syllables[second] + _CODAS[coda]
        if word not in known:
            known.add(word)
            made_up.append(word)
    made_up = sorted(made_up[:VOCABULARY_SIZE - len(words)], key=len)
    return tuple(words + made_up)


VOCABULARY = vocabulary()


def word_probabilities(vocabulary_size: int = VOCABULARY_SIZE, exponent: float = ZIPF_EXPONENT) -> numpy.ndarray:
    ranks = numpy.arange(1, vocabulary_size + 1, dtype=numpy.float64)
    weights = ranks ** -exponent
    return weights / weights.sum()


def corpus_chunks(size_bytes: int, seed: int = 1) -> Iterator[bytes]:
    """Yield chunks of whole lines whose total length is exactly `size_bytes`."""
    random = numpy.random.default_rng(seed)
    probabilities = word_probabilities()
    lower = numpy.array(VOCABULARY, dtype=object)
    capital = numpy.array([word.capitalize() for word in VOCABULARY], dtype=object)
    marks = numpy.array(MARKS, dtype=object)
    remaining = size_bytes
    while remaining > 0:
        drawn = random.choice(len(VOCABULARY), size=WORDS_PER_BATCH, p=probabilities)
        mark = random.choice(len(MARKS), size=WORDS_PER_BATCH, p=MARK_PROBABILITIES)
        lengths = numpy.minimum(random.geometric(1 / WORDS_PER_LINE_MEAN, size=WORDS_PER_BATCH), WORDS_PER_LINE_MAX)
        lengths[random.random(WORDS_PER_BATCH) < BLANK_LINE_PROBABILITY] = 0
        ends = numpy.cumsum(lengths)
        ends = ends[ends <= WORDS_PER_BATCH]
        starts = numpy.concatenate(([0], ends[:-1]))
        capitalised = numpy.zeros(WORDS_PER_BATCH, dtype=bool)
        capitalised[1:] = numpy.isin(mark[:-1], SENTENCE_ENDS)
        words = numpy.where(capitalised, capital[drawn], lower[drawn]) + marks[mark]
        text = "".join(" ".join(words[start:end]) + "\n" for start, end in zip(starts, ends)).encode()
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
