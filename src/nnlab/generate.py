"""Temperature sampling from a character model (spec seed_003 §7.4, ``TextGenerator.generate``).

Recursive generation with a sliding window: the model scores the next character of the current window,
``p = softmax(logits / temperature)``, one character is drawn from ``p``, appended, and the window slides by one.
Only the generated text (``length`` characters) is returned, without the prompt.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import get_rng, uniform

__all__ = ["generate", "sample_from_text", "sample_index"]


def sample_index(logits: np.ndarray, temperature: float, rng: Any) -> int:
    """One index drawn from ``softmax(logits / temperature)`` (computed in float64, max-shifted).

    Inputs: logits (V,); temperature > 0; rng from :func:`nnlab.backend.get_rng`. Returns an int in [0, V).
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = np.exp(z - z.max())
    cdf = np.cumsum(p)
    u = float(uniform(rng, ())) * cdf[-1]
    return int(min(np.searchsorted(cdf, u, side="right"), len(cdf) - 1))


def generate(model: Any, seed_text: str, length: int = 150, temperature: float = 0.5, seed: Any = None,
             vocab: str | None = None, sequence_len: int = 30, pad: bool = True) -> str:
    """Sample ``length`` characters from ``model`` continuing ``seed_text``.

    Inputs:
    - model: anything with ``loss(X)`` returning scores (1, V) for X (1, T) integer ids (``CharRNN``,
      ``CharTransformer``; a model with ``max_len`` needs ``sequence_len <= max_len``).
    - seed_text: the prompt; non-empty, every character in the vocabulary. Its last ``sequence_len`` characters
      form the first window; a shorter prompt is left-padded with spaces as the seed does (``pad=False`` makes
      that an error instead).
    - length: number of characters to generate (>= 0); temperature > 0 (lower = greedier).
    - seed: None (NumPy's global RNG), an int or a Generator/RandomState: the same seed gives the same text.
    - vocab: the characters in index order; default ``model.vocab``.
    Returns the generated string (``length`` characters, the prompt excluded).
    """
    fn = "generate"
    vocab = vocab if vocab is not None else getattr(model, "vocab", None)
    if not vocab:
        raise ValueError(f"{fn}: vocab is needed (pass vocab= or give the model a .vocab string)")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"{fn}: temperature must be > 0, got {temperature!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"{fn}: length must be an integer >= 0, got {length!r}")
    if not isinstance(seed_text, str) or not seed_text:
        raise ValueError(f"{fn}: seed_text must be a non-empty string")
    max_len = getattr(model, "max_len", None)  # models with a positional table (CharTransformer)
    if max_len is not None and sequence_len > max_len:
        raise ValueError(f"{fn}: sequence_len={sequence_len} is longer than the model's max_len={max_len} "
                         "(its positional table)")
    char_indices = {c: i for i, c in enumerate(vocab)}
    unknown = sorted(set(seed_text) - set(char_indices))
    if unknown:
        raise ValueError(f"{fn}: seed_text has characters outside the vocabulary: {''.join(unknown)!r} "
                         "(clean it with nnlab.data.text.clean_text)")
    if len(seed_text) < sequence_len:
        if not pad:
            raise ValueError(f"{fn}: seed_text must have at least sequence_len={sequence_len} characters, "
                             f"got {len(seed_text)}")
        if " " not in char_indices:
            raise ValueError(f"{fn}: seed_text is shorter than {sequence_len} and the vocabulary has no space "
                             "to pad it with")
        seed_text = seed_text.rjust(sequence_len)
    rng = get_rng(seed)
    window = [char_indices[c] for c in seed_text[-sequence_len:]]
    out = []
    for _ in range(int(length)):
        scores = model.loss(np.asarray([window], dtype=np.int64))
        idx = sample_index(np.asarray(scores)[0], float(temperature), rng)
        out.append(vocab[idx])
        window = window[1:] + [idx]
    return "".join(out)


def sample_from_text(model: Any, text: str, sequence_len: int, length: int, temperature: float,
                     seed: int) -> tuple[str, str]:
    """``(prompt, sample)``: a ``sequence_len``-character prompt taken from ``text`` at a start drawn with
    ``np.random.RandomState(seed)``, and ``length`` characters :func:`generate` continues it with (the sample a
    character-model recipe stores in its metrics)."""
    start = np.random.RandomState(seed).randint(0, len(text) - sequence_len - 1)
    prompt = text[start:start + sequence_len]
    return prompt, generate(model, prompt, length, temperature, seed=seed, sequence_len=sequence_len)
