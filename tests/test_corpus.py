"""The generated corpus: exact size, whole lines, the same bytes for the same seed, a realistic shape."""

from hypothesis import given, settings
from hypothesis import strategies as st

from emrlab.corpus import MARKS, VOCABULARY, VOCABULARY_SIZE, corpus_chunks, word_probabilities

MARK_CHARACTERS = "".join(MARKS).encode()


@settings(max_examples=25, deadline=None)
@given(size_bytes=st.integers(min_value=1, max_value=300_000), seed=st.integers(min_value=0, max_value=5))
def test_corpus_has_exact_size_and_whole_lines(size_bytes, seed):
    text = b"".join(corpus_chunks(size_bytes, seed))
    assert len(text) == size_bytes
    assert text.endswith(b"\n")
    assert {token.rstrip(MARK_CHARACTERS).lower() for token in text.split()} <= {word.encode() for word in VOCABULARY}


def test_corpus_is_reproducible_and_seed_dependent():
    first = b"".join(corpus_chunks(100_000, seed=7))
    assert first == b"".join(corpus_chunks(100_000, seed=7))
    assert first != b"".join(corpus_chunks(100_000, seed=8))


def test_word_frequencies_fall_with_rank():
    probabilities = word_probabilities()
    assert abs(probabilities.sum() - 1) < 1e-9
    assert all(probabilities[:-1] > probabilities[1:])


def test_a_zipfian_vocabulary_of_100000_words_with_punctuation_and_uneven_lines():
    assert len(set(VOCABULARY)) == len(VOCABULARY) == VOCABULARY_SIZE >= 100_000
    text = b"".join(corpus_chunks(2 << 20, seed=3))
    tokens = text.split()
    assert len(set(token.rstrip(MARK_CHARACTERS).lower() for token in tokens)) > 20_000  # a long tail
    assert tokens.count(b"the") > len(tokens) // 30  # and a few very common words
    assert sum(token[-1:] in (b",", b".") for token in tokens) > len(tokens) // 20
    assert any(token[:1].isupper() for token in tokens)
    line_lengths = [len(line.split()) for line in text.split(b"\n")]
    assert min(line_lengths) == 0 and max(line_lengths) >= 40
