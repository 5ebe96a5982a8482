"""Temperature sampling (spec seed_003 §7.4): determinism with a seed, returned length and alphabet, the
softmax(logits / T) law, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.backend import get_rng
from nnlab.generate import generate, sample_index
from nnlab.models.char_rnn import CharRNN

VOCAB = " abcdefg."


@pytest.fixture
def model() -> CharRNN:
    return CharRNN(len(VOCAB), 8, 6, cell="lstm", seed=0, vocab=VOCAB)


def test_generate_is_deterministic_with_a_seed_and_returns_only_new_text(model):
    a = generate(model, "bad cafe. " * 3, length=40, temperature=0.75, seed=7)
    b = generate(model, "bad cafe. " * 3, length=40, temperature=0.75, seed=7)
    c = generate(model, "bad cafe. " * 3, length=40, temperature=0.75, seed=8)
    assert a == b and a != c
    assert len(a) == 40 and set(a) <= set(VOCAB)
    assert generate(model, "abc", length=0, temperature=1.0, seed=0) == ""


def test_generate_uses_the_last_window_and_pads_short_prompts_with_spaces(model):
    long_prompt = "gggggggggg" + "bad cafe. " * 3
    assert generate(model, long_prompt, 20, 0.5, seed=1) == generate(model, "bad cafe. " * 3, 20, 0.5, seed=1)
    assert generate(model, "abc", 20, 0.5, seed=1) == generate(model, " " * 27 + "abc", 20, 0.5, seed=1)


def test_sample_index_follows_softmax_of_logits_over_temperature():
    logits = np.array([0.0, 1.0, 2.0])
    rng = get_rng(0)
    for T in (0.5, 2.0):
        draws = np.bincount([sample_index(logits, T, rng) for _ in range(20000)], minlength=3) / 20000
        p = np.exp(logits / T) / np.exp(logits / T).sum()
        assert np.abs(draws - p).max() < 0.015  # ~4 binomial standard deviations
    assert sample_index(np.array([0.0, 50.0, 0.0]), 0.01, rng) == 1


def test_generate_rejects_bad_input(model):
    with pytest.raises(ValueError, match="generate: temperature must be > 0, got 0"):
        generate(model, "abc", 5, temperature=0)
    with pytest.raises(ValueError, match="temperature must be > 0, got -1.0"):
        generate(model, "abc", 5, temperature=-1.0)
    with pytest.raises(ValueError, match="seed_text has characters outside the vocabulary: 'XZ'"):
        generate(model, "abXZ", 5, 1.0)
    with pytest.raises(ValueError, match="seed_text must be a non-empty string"):
        generate(model, "", 5, 1.0)
    with pytest.raises(ValueError, match="seed_text must have at least sequence_len=30 characters, got 3"):
        generate(model, "abc", 5, 1.0, pad=False)
    with pytest.raises(ValueError, match="length must be an integer >= 0"):
        generate(model, "abc", -1, 1.0)
    with pytest.raises(ValueError, match="vocab is needed"):
        generate(CharRNN(4, 3, 2, seed=0), "abc", 5, 1.0)


def test_run_sample_uses_the_runs_vocabulary_and_reports_bad_input_as_a_run_error(tmp_path):
    """`Run.sample` (what `nnlab generate` and `nnlab predict` call for a macbeth-* run) samples with the run's
    ``info["vocab"]`` and turns a bad prompt or temperature into a one-line RunError (CLI exit 2)."""
    from nnlab.runs import Run, RunError

    model = CharRNN(len(VOCAB), 8, 6, cell="lstm", seed=0)  # no .vocab of its own: the run's info gives it
    run = Run(path=tmp_path, config={"recipe": "macbeth-lstm", "settings": {"sequence_len": 30}}, metrics={},
              model=model, info={"vocab": VOCAB})
    assert run.sample("bad cafe. " * 3, 40, 0.75, seed=7) == generate(model, "bad cafe. " * 3, 40, 0.75, seed=7,
                                                                      vocab=VOCAB)
    with pytest.raises(RunError, match="temperature must be > 0"):
        run.sample("abc", 5, 0.0)
    with pytest.raises(RunError, match="outside the vocabulary: 'XZ'"):
        run.sample("abXZ", 5, 1.0)
    with pytest.raises(RunError, match="not a character model"):
        Run(path=tmp_path, config={"recipe": "digits-mlp", "settings": {}}, metrics={}, model=model).sample("a")
