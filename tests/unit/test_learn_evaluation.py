"""The Evaluation chapters. Classification metrics on a trained classifier's validation split:
precision, recall, F1 and AUC by hand equal scikit-learn's (binary and multiclass), the ROC point
marked is the confusion at the chosen threshold. BLEU and ROUGE of a typed pair: BLEU equals
sacreBLEU's sentence_bleu, ROUGE equals rouge-score's, on hand-picked and random pairs. Bad knob
values are refused by name; the page opens each chapter from its link; the command prints them."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from rouge_score import rouge_scorer
from sacrebleu import sentence_bleu
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.cli.main import main as lmwb
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.runs import evaluation_data, load_trained
from core.store import Store
from tests.trained_runs import topics_classifier, train_run

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
PAIRS = [("the cat sat on the mat", "the cat is on the mat"), ("The cats, running!", "the cat runs."),
         ("the the the the", "the cat"), ("a", "a b c d e"), ("x y", "p q"), ("Hello world.", "Hello world."),
         ("it is a guide to action which ensures that the military always obeys the commands of the party",
          "it is a guide to action that ensures that the military will forever heed party commands")]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-eval")
    store = Store(home=home)
    model = {"name": "textcnn", "embed_dim": 16, "n_filters": 8, "kernel_sizes": (2,)}
    binary = topics_classifier(model, 200, 20)
    binary["data"] = {"name": "sentiment", "n_examples": 200}
    return home, {"binary": train_run(store, "sentiment", binary),
                  "topics": train_run(store, "topics", topics_classifier(model, 200, 20))}


def _truth(home: tuple[Path, dict[str, str]], kind: str) -> tuple[object, np.ndarray, np.ndarray]:
    """The run, its validation labels and probabilities, the way a test reads them."""
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[kind])
    _, data = evaluation_data(trained)
    return trained, np.asarray(data.validation.labels), trained.task.predict_proba(trained.model, data.validation.texts)


@pytest.mark.parametrize(("kind", "positive", "threshold"), [("binary", 1, 0.5), ("binary", 0, 0.3), ("topics", 2, 0.2)])
def test_precision_recall_f1_and_auc_equal_scikit_learns(home: tuple[Path, dict[str, str]], kind: str,
                                                          positive: int, threshold: float) -> None:
    trained, y, probs = _truth(home, kind)
    walk = chapter("classification_metrics").function()(trained, "a fine game", threshold=threshold, positive=positive)
    assert len(walk.checks) >= 4 and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    pred = probs.argmax(1)
    labels = list(range(probs.shape[1]))
    table = next(s for s in walk.steps if s.title.startswith("Per class")).matrix()
    assert np.allclose(table[:-1, 3:], np.array(precision_recall_fscore_support(y, pred, labels=labels,
                                                                                zero_division=0)[:3]).T)
    assert np.allclose(table[-1, 3:], precision_recall_fscore_support(y, pred, labels=labels, average="macro",
                                                                      zero_division=0)[:3])
    auc_step = next(s for s in walk.steps if s.title.startswith("AUC"))
    assert auc_step.matrix()[:, -1].sum() == pytest.approx(roc_auc_score(y == positive, probs[:, positive]), abs=1e-9)
    roc = next(s for s in walk.steps if s.curve)
    at = next(s for s in walk.steps if s.title.startswith("The confusion at threshold")).matrix()
    called = probs[:, positive] >= threshold
    assert at[0, 0] == (called & (y == positive)).sum() and at[1, 0] == (called & (y != positive)).sum()
    fpr, tpr = roc.matrix()[roc.mark]
    assert (fpr, tpr) == pytest.approx((at[1, 0] / at[1].sum(), at[0, 0] / at[0].sum()))


def test_bad_knob_values_are_refused_by_name(home: tuple[Path, dict[str, str]]) -> None:
    trained, _, _ = _truth(home, "binary")
    metrics = chapter("classification_metrics")
    with pytest.raises(ConfigError, match="threshold"):
        metrics.knob_values({"threshold": 1.5})
    with pytest.raises(ConfigError, match=r"positive.*0 to 1"):
        metrics.function()(trained, "x", **metrics.knob_values({"positive": 2}))
    with pytest.raises(ConfigError, match="reference"):
        chapter("bleu_rouge").function()(None, "the cat", **chapter("bleu_rouge").knob_values({"reference": " "}))


def test_bleu_equals_sacrebleu_and_rouge_equals_rouge_score() -> None:
    rng = random.Random(0)
    words = ["the", "a", "cat", "cats", "dog", "sat", "on", "mat", "is", ",", ".", "ran", "running", "The"]
    pairs = PAIRS + [(" ".join(rng.choices(words, k=rng.randint(0, 9))), " ".join(rng.choices(words, k=rng.randint(1, 9))))
                     for _ in range(60)]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for hyp, ref in pairs:
        walk = chapter("bleu_rouge").function()(None, hyp, reference=ref)
        assert all(c.ok for c in walk.checks), (hyp, ref, [c.sentence() for c in walk.checks])
        bleu = next(s for s in walk.steps if s.title.startswith("BLEU:")).matrix()[0]
        theirs = sentence_bleu(hyp, [ref])
        assert bleu[-1] == pytest.approx(theirs.score, abs=1e-9) and bleu[-2] == pytest.approx(theirs.bp)
        rouge = next(s for s in walk.steps if s.title.startswith("ROUGE-1, ")).matrix()[:, 3:]
        lib = scorer.score(ref, hyp)
        assert rouge == pytest.approx(np.array([[lib[t].precision, lib[t].recall, lib[t].fmeasure]
                                                for t in ("rouge1", "rouge2", "rougeL")]), abs=1e-12)
    walk = chapter("bleu_rouge").function()(None, *PAIRS[0][:1], reference=PAIRS[0][1])
    precisions = next(s for s in walk.steps if s.title.startswith("Clipped")).matrix()
    assert precisions[:, 0].tolist() == [5, 3, 1, 0] and precisions[:, 1].tolist() == [6, 5, 4, 3]
    assert any("smoothed" in n for n in walk.notes)


def test_the_commands_print_both_chapters(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "bleu_rouge", "the cat sat on the mat", "--reference", "the cat is on the mat"]) == 0
    out = capsys.readouterr().out
    assert "Clipped precisions p_n" in out and "37.99" in out and "DIFFERENT" not in out
    assert lmwb(["learn", "classification_metrics", ids["binary"], "a great film", "--threshold", "0.7"]) == 0
    out = capsys.readouterr().out
    assert "Confusion matrix" in out and "The confusion at threshold t = 0.7" in out and "DIFFERENT" not in out
    assert lmwb(["learn", "classification_metrics", ids["binary"], "x", "--threshold", "2"]) != 0
    assert "threshold" in capsys.readouterr().err


@pytest.mark.parametrize("query", [{"chapter": "classification_metrics", "threshold": "0.3", "positive": "0"},
                                   {"chapter": "bleu_rouge", "text": "the cats sat", "reference": "a cat sat down"}])
def test_the_learn_page_opens_each_chapter_from_its_link(home: tuple[Path, dict[str, str]], query: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    if query["chapter"] == "classification_metrics":
        query = {**query, "run": ids["binary"]}
    at.query_params.update(query)
    at.switch_page(str(page_path("learn"))).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.success) >= 3 and not at.error, [e.value for e in at.error]
    assert at.query_params["chapter"] == query["chapter"]
    if query["chapter"] == "bleu_rouge":
        assert at.text_input(key="learn.g1.bleu_rouge.reference").value == "a cat sat down"
    else:
        assert at.number_input(key="learn.g1.classification_metrics.threshold").value == pytest.approx(0.3)
