"""SQuAD exact match and F1 (core.qa.squad) against the official scripts' definitions.

The reference numbers are worked out by hand from evaluate-v1.1.py / evaluate-v2.0.py's rules
(lower case, strip ASCII punctuation, drop a/an/the, collapse whitespace; F1 over bags of words;
max over gold answers; a no-answer is right only when predicted as ""), not by calling the module.
"""

from __future__ import annotations

import pytest

from core.qa.squad import exact_match, normalize_answer, score, squad_metrics, token_f1


@pytest.mark.parametrize(("raw", "normal"), [
    ("The Eiffel Tower", "eiffel tower"),
    ("  an   apple\t\nA pear ", "apple pear"),
    ("Denver Broncos!", "denver broncos"),
    ("the-end", "theend"),  # punctuation goes first, leaving one word, which is no article
    ("the (big) end", "big end"),
    ("theatre", "theatre"),  # an article only as a whole word
    ("A.", ""),  # the dot goes, then the article: nothing is left
    ("Paris's café", "pariss café"),  # ASCII punctuation only; é is a letter
    ("1,000 – 2,000", "1000 – 2000"),  # the en dash is not ASCII punctuation: it stays
    ("ANDERSON", "anderson"),
])
def test_normalisation_as_the_official_script(raw: str, normal: str) -> None:
    assert normalize_answer(raw) == normal


def test_exact_match_ignores_case_articles_punctuation_and_spacing() -> None:
    assert exact_match("the  Denver Broncos.", "Denver Broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0
    assert exact_match("an apple", "apple") == 1.0


def test_f1_by_hand() -> None:
    # pred "denver broncos won" vs gold "denver broncos": 2 shared, P = 2/3, R = 1, F1 = 0.8
    assert token_f1("Denver Broncos won", "The Denver Broncos") == pytest.approx(0.8)
    # pred "broncos": P = 1, R = 1/2, F1 = 2/3
    assert token_f1("Broncos", "Denver Broncos") == pytest.approx(2 / 3)
    # bag of words: pred "a a b" -> ["b"] after dropping articles; gold "b b c": shared 1,
    # P = 1, R = 1/3, F1 = 0.5
    assert token_f1("a a b", "b b c") == pytest.approx(0.5)
    # repeated words count with their multiplicity: "x x y" vs "x y y": shared x1 y1 = 2,
    # P = R = 2/3
    assert token_f1("x x y", "x y y") == pytest.approx(2 / 3)
    assert token_f1("cat", "dog") == 0.0


def test_best_over_several_gold_answers() -> None:
    golds = ["Denver Broncos", "The Broncos", "Broncos of Denver"]
    em, f1 = score("broncos", golds)
    # "broncos" equals "The Broncos" after normalisation
    assert (em, f1) == (1.0, 1.0)
    em, f1 = score("Denver", golds)
    # best F1: vs "Denver Broncos" P=1 R=1/2 -> 2/3; vs "Broncos of Denver" P=1 R=1/3 -> 1/2
    assert em == 0.0
    assert f1 == pytest.approx(2 / 3)


def test_no_answer_questions() -> None:
    # SQuAD 2.0: no gold answers (or only ones that normalise to nothing) means unanswerable.
    assert score("", []) == (1.0, 1.0)
    assert score("", ["the", "."]) == (1.0, 1.0)
    assert score("Paris", []) == (0.0, 0.0)
    # an empty prediction for an answerable question scores nothing
    assert score("", ["Paris"]) == (0.0, 0.0)
    # a prediction that normalises to nothing is a no-answer too
    assert score("the", ["Paris"]) == (0.0, 0.0)
    # an empty gold among real ones is dropped, not a free pass for abstaining
    assert score("", ["", "Paris"]) == (0.0, 0.0)


def test_corpus_means_as_percentages_with_the_v2_split() -> None:
    preds = ["Denver Broncos", "Broncos", "", "London"]
    golds = [["Denver Broncos"], ["Denver Broncos"], [], []]
    out = squad_metrics(preds, golds)
    # EM: 1, 0, 1, 0 -> 50; F1: 1, 2/3, 1, 0 -> 66.67
    assert out["n"] == 4
    assert out["exact_match"] == pytest.approx(50.0)
    assert out["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert out["has_answer_exact_match"] == pytest.approx(50.0)
    assert out["has_answer_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert out["no_answer_exact_match"] == pytest.approx(50.0)
    assert out["has_answer_n"] == 2 and out["no_answer_n"] == 2
    # all answerable: no split, as evaluate-v1.1 reports
    assert set(squad_metrics(["a b"], [["b"]])) == {"n", "exact_match", "f1"}
    with pytest.raises(ValueError):
        squad_metrics(["x"], [])
