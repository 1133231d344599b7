"""Summarisation's parts: ROUGE equals rouge-score's, the decoding length controls, the data."""

from __future__ import annotations

import pytest
import torch
from rouge_score import rouge_scorer

from core.data.summaries import brief, lead
from core.decoding.seq2seq import Limits, beam_search, greedy_translate
from core.metrics import summarisation_metrics, task_metrics
from tests.unit.test_translation_parts import BOS, EOS, _Scripted

HYPOTHESES = ["the cat sat", "Nina played the concerts in Lima on Friday.", "", "a b c d"]
REFERENCES = ["the cat sat on the mat", "nina played the concert in lima on friday ; it was a triumph .",
              "something", "d c b a"]


def test_rouge_equals_rouge_score_on_fixed_inputs() -> None:
    ours = summarisation_metrics(HYPOTHESES, REFERENCES)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = [scorer.score(r, h) for h, r in zip(HYPOTHESES, REFERENCES, strict=True)]
    for kind in ("rouge1", "rouge2", "rougeL"):
        assert ours[kind] == pytest.approx(sum(s[kind].fmeasure for s in scores) / len(scores), abs=1e-12)
    # By hand, first pair: 3 of 3 words in 6 -> F = 2 * 1 * 0.5 / 1.5; reversed words share one LCS word.
    first = summarisation_metrics(HYPOTHESES[:1], REFERENCES[:1])
    assert first["rouge1"] == pytest.approx(2 / 3) and first["rougeL"] == pytest.approx(2 / 3)
    assert first["rouge2"] == pytest.approx(2 * 1 * 0.4 / 1.4)
    reversed_ = summarisation_metrics(HYPOTHESES[3:], REFERENCES[3:])
    assert reversed_["rouge1"] == pytest.approx(1.0) and reversed_["rougeL"] == pytest.approx(0.25)
    assert reversed_["rouge2"] == 0.0
    # "concerts" and "concert" meet through the stemmer.
    assert summarisation_metrics(["concerts"], ["concert"])["rouge1"] == 1.0
    assert [m.name for m in task_metrics("summarisation")] == ["rougeL", "rouge1", "rouge2", "perplexity", "loss"]


def test_min_length_and_no_repeat_ngram_in_greedy_and_beam() -> None:
    # The model wants <eos> at once, else repeats 4 for ever.
    model = _Scripted({(): {EOS: 0.7, 4: 0.2, 5: 0.1}, (4,): {4: 0.6, EOS: 0.3, 5: 0.1},
                       (4, 4): {4: 0.6, EOS: 0.3, 5: 0.1}, (4, 5): {4: 0.5, 5: 0.3, EOS: 0.2},
                       (4, 5, 4): {5: 0.7, EOS: 0.2, 4: 0.1}, (4, 4, 4): {EOS: 0.9, 4: 0.1}})
    src = torch.tensor([[4, EOS]])
    common = {"bos_id": BOS, "eos_id": EOS, "max_len": 6}
    assert greedy_translate(model, src, None, **common) == [[]]
    assert greedy_translate(model, src, None, limits=Limits(min_len=3), **common) == [[4, 4, 4]]
    # No 2-gram twice: after 4 4, another 4 would repeat (4, 4), so 5 comes next.
    assert greedy_translate(model, src, None, limits=Limits(min_len=3, no_repeat_ngram=2), **common) == [[4, 4, 5]]
    # Unigrams: every token at most once, so after 4 and 5 only <eos> is left.
    assert greedy_translate(model, src, None, limits=Limits(min_len=1, no_repeat_ngram=1), **common) == [[4]]
    for k in (1, 3):
        out = beam_search(model, src, None, beam_size=k, limits=Limits(min_len=3, no_repeat_ngram=1), **common)
        assert len(out[0]) >= 3 and len(set(out[0])) == len(out[0]), out


def test_briefs_summaries_are_a_function_of_the_document() -> None:
    rng = __import__("numpy").random.default_rng(0)
    for _ in range(50):
        document, summary = brief(rng, 3)
        person, _, _, event, _, city, _, day = summary.split()[:8]
        assert len(document.split(" . ")) == 7
        # The event's own person, city and day are in the document; the summary's order is fixed.
        assert f"{person} " in document and f" {city} " in f" {document} " and day in document
        assert summary.endswith(" .") and " ; it was a " in summary
    assert lead("a b . c d . e .", 2) == "a b . c d ."
