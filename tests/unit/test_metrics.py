"""core.metrics agrees with scikit-learn and with the arithmetic of perplexity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from core.metrics import classification_metrics, language_model_metrics, scalars


def _probs(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=n)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y]  # informative but imperfect
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_binary_matches_sklearn() -> None:
    y, p = _probs(300, 2, seed=0)
    pred = p.argmax(1)
    m = classification_metrics(y, p, label_names=["neg", "pos"])
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p[:, 1]))
    assert m["confusion_matrix"] == {
        "labels": ["neg", "pos"],
        "matrix": skm.confusion_matrix(y, pred).tolist(),
    }
    curve = m["roc_curve"]["pos"]
    assert list(m["roc_curve"]) == ["pos"]
    assert len(curve["fpr"]) == len(curve["tpr"]) <= 200
    assert curve["fpr"][0] == 0.0 and curve["tpr"][-1] == 1.0
    assert m["per_class"]["pos"]["support"] == int((y == 1).sum())
    json.dumps(m)  # plain data, ready for the store


def test_three_classes_match_sklearn() -> None:
    y, p = _probs(400, 3, seed=1)
    pred = p.argmax(1)
    m = classification_metrics(y, p)
    assert "f1" not in m  # binary-only keys
    for avg in ("macro", "weighted"):
        assert m[f"precision_{avg}"] == pytest.approx(
            skm.precision_score(y, pred, average=avg, zero_division=0)
        )
        assert m[f"recall_{avg}"] == pytest.approx(skm.recall_score(y, pred, average=avg))
        assert m[f"f1_{avg}"] == pytest.approx(skm.f1_score(y, pred, average=avg))
    assert m["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
    )
    assert m["pr_auc"] == pytest.approx(
        skm.average_precision_score(label_binarize(y, classes=[0, 1, 2]), p, average="macro")
    )
    assert m["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert set(m["roc_curve"]) == {"0", "1", "2"}
    assert all(len(c["fpr"]) <= 200 for c in m["roc_curve"].values())


def test_class_never_predicted_still_scored() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    p = np.array([[0.9, 0.1, 0.0]] * 3 + [[0.1, 0.8, 0.1]] * 3)  # class 2 never predicted
    m = classification_metrics(y, p)
    assert len(m["confusion_matrix"]["matrix"]) == 3
    assert m["per_class"]["2"]["precision"] == 0.0
    assert m["f1_macro"] == pytest.approx(
        skm.f1_score(y, p.argmax(1), labels=[0, 1, 2], average="macro", zero_division=0)
    )


def test_auc_is_none_with_a_single_class() -> None:
    m = classification_metrics([1, 1, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    assert m["roc_auc"] is None and m["pr_auc"] is None
    assert m["roc_curve"] == {}
    assert m["accuracy"] == pytest.approx(2 / 3)
    m3 = classification_metrics([2, 2], [[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    assert m3["roc_auc"] is None


def test_multiclass_auc_skips_absent_classes() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.4, 0.5, 0.1]])
    m = classification_metrics(y, p)
    expected = np.mean([skm.roc_auc_score(y == k, p[:, k]) for k in (0, 1)])
    assert m["roc_auc"] == pytest.approx(expected)
    assert m["per_class"]["2"]["roc_auc"] is None


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="rows"):
        classification_metrics([0, 1], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="labels must lie"):
        classification_metrics([0, 3], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="label names"):
        classification_metrics([0, 1], [[0.5, 0.5], [0.5, 0.5]], label_names=["a"])


def test_one_dimensional_probs_mean_positive_class() -> None:
    y = [0, 1, 1, 0]
    a = classification_metrics(y, [0.2, 0.7, 0.4, 0.1])
    b = classification_metrics(y, [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    assert a["roc_auc"] == b["roc_auc"] == 1.0
    assert a["accuracy"] == b["accuracy"] == 0.75


def test_language_model_arithmetic() -> None:
    m = language_model_metrics(2.0, tokens=1000, chars=4000)
    assert m["loss"] == 2.0
    assert m["perplexity"] == pytest.approx(math.exp(2.0))
    assert m["bits_per_token"] == pytest.approx(2.0 / math.log(2))
    assert m["bits_per_char"] == pytest.approx(2.0 * 1000 / 4000 / math.log(2))
    assert "bits_per_char" not in language_model_metrics(2.0, tokens=10)
    assert language_model_metrics(math.log(4), tokens=1)["perplexity"] == pytest.approx(4.0)
    assert language_model_metrics(1e4, tokens=5)["perplexity"] == math.inf
    with pytest.raises(ValueError):
        language_model_metrics(1.0, tokens=0)


def test_scalars_picks_numbers_only() -> None:
    m = classification_metrics([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    s = scalars(m)
    assert s["accuracy"] == pytest.approx(2 / 3)
    assert "confusion_matrix" not in s and "roc_curve" not in s and "n" not in s
    assert all(isinstance(v, float) for v in s.values())
    assert scalars({"a": np.float32(0.5), "b": None, "c": True, "d": 3}) == {"a": 0.5, "d": 3.0}
    assert set(scalars(language_model_metrics(1.0, tokens=10, chars=30))) == {
        "loss",
        "perplexity",
        "bits_per_token",
        "bits_per_char",
    }
