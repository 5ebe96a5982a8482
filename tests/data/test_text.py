"""Text preparation (spec seed_003 §7.1): Gutenberg stripping, cleaning, vocabulary, windows; real Macbeth."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data.text import (
    MACBETH_VOCAB,
    build_vocab,
    clean_text,
    load_macbeth,
    make_windows,
    preprocess_text_data,
    strip_gutenberg,
)

SPEC_VOCAB_MAP = {' ': 0, '!': 1, ',': 2, '-': 3, '.': 4, '1': 5, '3': 6, '5': 7, ':': 8, ';': 9, '?': 10,
                  'a': 11, 'b': 12, 'c': 13, 'd': 14, 'e': 15, 'f': 16, 'g': 17, 'h': 18, 'i': 19, 'j': 20,
                  'k': 21, 'l': 22, 'm': 23, 'n': 24, 'o': 25, 'p': 26, 'q': 27, 'r': 28, 's': 29, 't': 30,
                  'u': 31, 'v': 32, 'w': 33, 'x': 34, 'y': 35, 'z': 36}


def test_macbeth_vocab_is_the_spec_map_verbatim():
    assert {c: i for i, c in enumerate(MACBETH_VOCAB)} == SPEC_VOCAB_MAP


def test_windows_of_the_spec_example_macbeth_with_window_4():
    char_indices, indices_char = build_vocab("macbeth")
    ids = np.array([char_indices[c] for c in "macbeth"])
    X, Y = make_windows(ids, sequence_len=4)
    decoded = [("".join(indices_char[i] for i in x), indices_char[int(y[0])]) for x, y in zip(X, Y)]
    assert decoded == [("macb", "e"), ("acbe", "t"), ("cbet", "h")]
    assert X.shape == (3, 4) and Y.shape == (3, 1)


def test_clean_text_lowercases_filters_collapses_and_dedups():
    raw = "Thunder—and  LIGHTNING!!\nEnter three Witches…  ‘Tis _so_ ,\tfair?? Is’t 1533 #"
    assert clean_text(raw) == "thunder and lightning! enter three witches tis so, fair? ist 1533"


def test_clean_text_deletes_apostrophes_and_turns_other_dropped_characters_into_word_breaks():
    # ’ inside a word vanishes (the seed's vocabulary has no quote characters); a dash, a typographic quote, a
    # bracket or an underscore between words leaves one space, never a joined word.
    assert clean_text("Macbeth’s castle") == "macbeths castle"
    assert clean_text("her life;—this, and") == "her life; this, and"
    assert clean_text("quoth I.\n“Aroint thee, witch!”") == "quoth i. aroint thee, witch!"
    assert clean_text("air.\n\n [_Exeunt._]\n\nSCENE II.") == "air. exeunt. scene ii."
    assert clean_text("Fear—and—fury") == "fear and fury"
    assert clean_text("to-morrow, and to-morrow") == "to-morrow, and to-morrow"  # '-' is allowed


def test_strip_gutenberg_keeps_only_the_text_between_the_markers():
    raw = ("The Project Gutenberg eBook 1998\n*** START OF THE PROJECT GUTENBERG EBOOK MACBETH ***\n"
           "ACT I\nScene I.\n*** END OF THE PROJECT GUTENBERG EBOOK MACBETH ***\nlicence 1.E.8")
    assert strip_gutenberg(raw) == "ACT I\nScene I."
    assert strip_gutenberg("no markers") == "no markers"


def test_preprocess_gives_int_windows_with_stride_one():
    data = preprocess_text_data("Abc, abc! " * 10, sequence_len=5)
    assert data["text"] == "abc, abc! " * 9 + "abc, abc!"
    n = len(data["text"]) - 5
    assert data["x"].shape == (n, 5) and data["y"].shape == (n, 1) and data["x"].dtype == np.int64
    ids = np.array([data["char_indices"][c] for c in data["text"]])
    np.testing.assert_array_equal(data["x"][7], ids[7:12])
    assert data["y"][7, 0] == ids[12]
    assert data["vocab"] == sorted(set(data["text"])) and data["vocab_size"] == 6


def test_text_prep_rejects_short_text_and_unknown_characters():
    with pytest.raises(ValueError, match="preprocess_text_data: the cleaned text has 3 characters"):
        preprocess_text_data("abc", sequence_len=30)
    with pytest.raises(ValueError, match="build_vocab: text must be a non-empty str"):
        build_vocab("")
    with pytest.raises(ValueError, match="make_windows: the text must be longer than sequence_len=4"):
        make_windows(np.arange(4), sequence_len=4)
    with pytest.raises(ValueError, match="outside the vocabulary: 'x'"):
        preprocess_text_data("ab x ab ab", sequence_len=2, vocab="ab ")
    with pytest.raises(ValueError, match="make_windows: step must be an integer >= 1"):
        make_windows(np.arange(10), sequence_len=3, step=0)


@pytest.mark.data
def test_macbeth_figures_on_the_shared_copy(data_dir):
    """The shared copy (2021 edition) cleans to 102,107 characters: N = 102,107 - 30 = 102,077 windows of 30.
    The seed's gutenberg.org copy gave 102,176 characters, X (102146, 30); both obey N = len - 30. Its play
    text uses 34 of the spec's 37 characters (no digits; the seed's 1, 3, 5 came from text outside the play in
    its copy, most likely Gutenberg lines naming eBook 1533), so the spec's fixed 37-character map indexes it.
    Apostrophes vanish (``crown’d`` -> ``crownd``), other dropped characters leave a space (``life;—this`` ->
    ``life; this``)."""
    data = load_macbeth(data_dir / "text" / "macbeth.txt")
    assert len(data["text"]) == 102107
    assert data["x"].shape == (102077, 30) and data["y"].shape == (102077, 1)
    assert data["vocab_size"] == 37 and data["char_indices"] == SPEC_VOCAB_MAP
    assert data["text"].startswith("cover macbeth by william shakespeare contents act i scene i. an open place.")
    assert data["text"].endswith("took off her life; this, and what needful else that calls upon us, by the grace "
                                 "of grace, we will perform in measure, time, and place. so thanks to all at once, "
                                 "and to each one, whom we invite to see us crownd at scone. flourish. exeunt.")
    own = load_macbeth(data_dir / "text" / "macbeth.txt", vocab="text")
    assert "".join(own["vocab"]) == " !,-.:;?abcdefghijklmnopqrstuvwxyz"
    assert set(own["vocab"]) <= set(MACBETH_VOCAB)
    np.testing.assert_array_equal(data["x"][1:, :-1], data["x"][:-1, 1:])  # stride 1
    np.testing.assert_array_equal(data["y"][:-1, 0], data["x"][1:, -1])
