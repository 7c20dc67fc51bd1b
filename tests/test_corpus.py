"""The generated corpus: exact size, whole lines, the same bytes for the same seed."""

from hypothesis import given, settings
from hypothesis import strategies as st

from emrlab.corpus import VOCABULARY, corpus_chunks, word_probabilities


@settings(max_examples=25, deadline=None)
@given(size_bytes=st.integers(min_value=1, max_value=300_000), seed=st.integers(min_value=0, max_value=5))
def test_corpus_has_exact_size_and_whole_lines(size_bytes, seed):
    text = b"".join(corpus_chunks(size_bytes, seed))
    assert len(text) == size_bytes
    assert text.endswith(b"\n")
    assert set(text.split()) <= {word.encode() for word in VOCABULARY}


def test_corpus_is_reproducible_and_seed_dependent():
    first = b"".join(corpus_chunks(100_000, seed=7))
    assert first == b"".join(corpus_chunks(100_000, seed=7))
    assert first != b"".join(corpus_chunks(100_000, seed=8))


def test_word_frequencies_fall_with_rank():
    probabilities = word_probabilities()
    assert abs(probabilities.sum() - 1) < 1e-9
    assert all(probabilities[:-1] > probabilities[1:])
