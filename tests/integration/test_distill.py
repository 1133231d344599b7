"""Knowledge distillation through the path a user takes (issue 27): a teacher run in the store,
a student run naming it in task.teacher, both trained by core.runs.

The planted rule: a text is positive when it holds more of five positive words than of five
negative ones, among filler words. The teacher learns it from clean labels; the students read
the same texts with a third of their labels flipped. The one distilled from the teacher (its
soft targets carry the rule) agrees with the teacher on new texts far more often than the one
that learns from the noisy labels alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import torch

from core.config import validate_config
from core.distill.distiller import LogitCache
from core.errors import ConfigError
from core.runs import create_run, execute_run, load_teacher, load_trained, predict_texts
from core.store import Store
from core.tasks.classification import ClassificationTask
from core.train import Trainer

POSITIVE = ["good", "great", "fine", "nice", "superb"]
NEGATIVE = ["bad", "awful", "poor", "dull", "weak"]
FILLER = [f"w{i}" for i in range(40)]
TRAINING = {"batch_size": 32, "log_every": 50, "device": "cpu", "seed": 0, "attention_snapshots": False,
            "max_epochs": None, "early_stopping_patience": 0}
MODEL = {"name": "lstm", "bidirectional": True, "pooling": "max", "embed_dim": 32, "hidden_size": 32, "dropout": 0.0}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def texts_and_labels(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        pos, neg = rng.randint(0, 3), rng.randint(0, 3)
        if pos == neg:
            continue
        words = rng.sample(POSITIVE, pos) + rng.sample(NEGATIVE, neg) + rng.sample(FILLER, rng.randint(2, 6))
        rng.shuffle(words)
        rows.append((" ".join(words), "positive" if pos > neg else "negative"))
    return rows


def write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for text, label in rows))
    return path


def config(train: Path, val: Path, *, steps: int, tokenizer: Any = "word", **task: Any) -> dict[str, Any]:
    return {
        "task": {"name": "classification", "max_length": 16, **task},
        "data": {"name": "file", "path": str(train), "validation_path": str(val)},
        "tokenizer": tokenizer,
        "model": MODEL,
        "optimizer": {"name": "adamw", "lr": 0.01},
        "schedule": "constant",
        "training": {**TRAINING, "max_steps": steps, "eval_every": steps},
    }


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, Path]]:
    """A store with one teacher (clean labels, a character tokenizer: not the students' words),
    and the folder of the data files."""
    folder = tmp_path_factory.mktemp("distill")
    store = Store(home=folder / "home")
    rows = texts_and_labels(800, seed=1)
    write(folder / "clean.tsv", rows)
    flip = random.Random(2)
    noisy = [(t, ("negative" if y == "positive" else "positive") if flip.random() < 0.35 else y) for t, y in rows]
    write(folder / "noisy.tsv", noisy)
    write(folder / "val.tsv", texts_and_labels(200, seed=3))
    raw = config(folder / "clean.tsv", folder / "val.tsv", steps=200, tokenizer="char")
    raw["task"]["max_length"] = 64
    raw["model"] = {"name": "textcnn", "embed_dim": 16, "n_filters": 64, "dropout": 0.0}
    run = create_run(store, validate_config(raw), name="the-teacher")
    execute_run(store, run.id)
    yield store, run.id, folder


def agreement(store: Store, student: str, teacher: str, texts: list[str]) -> float:
    ours = [max(p, key=p.get) for p in predict_texts(load_trained(store, student), texts)]
    theirs = [max(p, key=p.get) for p in predict_texts(load_trained(store, teacher), texts)]
    return sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(texts)


def test_a_distilled_student_agrees_with_its_teacher_more_than_one_trained_on_the_labels(
        teacher: tuple[Store, str, Path]) -> None:
    store, teacher_id, folder = teacher
    new = [t for t, _ in texts_and_labels(300, seed=4)]
    assert agreement(store, teacher_id, teacher_id, new) == 1.0
    # Named by its name, as a user may: the stored config keeps the id.
    distilled = create_run(store, validate_config(config(
        folder / "noisy.tsv", folder / "val.tsv", steps=200, teacher="the-teacher", distill_alpha=0.0,
        distill_temperature=2.0)))
    assert distilled.config["task"]["teacher"] == teacher_id
    execute_run(store, distilled.id)
    plain = create_run(store, validate_config(config(folder / "noisy.tsv", folder / "val.tsv", steps=200)))
    execute_run(store, plain.id)
    with_teacher, alone = (agreement(store, r.id, teacher_id, new) for r in (distilled, plain))
    assert with_teacher >= 0.9 and with_teacher > alone + 0.1, (with_teacher, alone)
    log = [e.message for e in store.events(distilled.id)]
    assert any(f"teacher {teacher_id}: logits of 800 training texts cached in" in line for line in log), log


def test_what_may_teach_is_checked_when_the_run_is_created(teacher: tuple[Store, str, Path]) -> None:
    store, teacher_id, folder = teacher
    raw = config(folder / "noisy.tsv", folder / "val.tsv", steps=10)

    def refusal(ref: str) -> str:
        with pytest.raises(ConfigError) as caught:
            create_run(store, validate_config({**raw, "task": {**raw["task"], "teacher": ref}}))
        assert caught.value.path == "task.teacher"
        assert "a finished classification run in the store that has a checkpoint" in str(caught.value)
        return str(caught.value)

    assert "no such run" in refusal("r0000dead")
    lm = store.create_run({"task": {"name": "language_model"}}, task="language_model", arch="lstm", status="completed")
    assert f"run {lm.id} is a language_model run" in refusal(lm.id)
    queued = store.create_run(raw, task="classification", arch="lstm", status="queued")
    assert f"run {queued.id} is queued, not finished" in refusal(queued.id)
    bare = store.create_run(raw, task="classification", arch="lstm", status="completed")
    assert f"run {bare.id} has no checkpoint" in refusal(bare.id)


def test_a_teacher_of_other_labels_is_refused_naming_both(teacher: tuple[Store, str, Path]) -> None:
    store, teacher_id, folder = teacher
    other = [(t, {"positive": "good", "negative": "bad"}[y]) for t, y in texts_and_labels(100, seed=5)]
    path = write(folder / "other_labels.tsv", other)
    run = create_run(store, validate_config(config(path, path, steps=5, teacher=teacher_id)))
    with pytest.raises(ConfigError, match="task.teacher") as caught:
        execute_run(store, run.id)
    message = str(caught.value)
    assert "['bad', 'good']" in message and "['negative', 'positive']" in message, message
    assert store.get_run(run.id).status == "failed"


def test_a_language_model_distils_from_one_of_its_vocabulary_only(store: Store) -> None:
    lm = {"task": {"name": "language_model", "context_length": 16, "sample_length": 0},
          "data": {"name": "python_docs"}, "tokenizer": "char",
          "model": {"name": "gru", "embed_dim": 16, "hidden_size": 32},
          "training": {**TRAINING, "max_steps": 20, "eval_every": 20, "eval_max_batches": 2}}
    teacher = create_run(store, validate_config(lm))
    execute_run(store, teacher.id)
    student = create_run(store, validate_config({**lm, "task": {**lm["task"], "teacher": teacher.id}}))
    result = execute_run(store, student.id)
    assert result.status == "completed"
    assert any("same vocabulary" in e.message for e in store.events(student.id))
    words = create_run(store, validate_config({**lm, "tokenizer": "word", "task": {**lm["task"], "teacher": teacher.id}}))
    with pytest.raises(ConfigError, match="the teacher's tokenizer is char, this run's word"):
        execute_run(store, words.id)


def _taught(teacher: tuple[Store, str, Path], **task: Any) -> tuple[Trainer, ClassificationTask, LogitCache]:
    """A 5-step student of ``teacher`` with ``task`` settings, set up and given its teacher."""
    store, teacher_id, folder = teacher
    raw = config(folder / "noisy.tsv", folder / "val.tsv", steps=5, teacher=teacher_id, **task)
    run = create_run(store, validate_config(raw))
    trainer = Trainer(validate_config(run.config), store.run_dir(run.id))
    trainer.setup()
    load_teacher(store, trainer)
    student = cast(ClassificationTask, trainer.task)
    assert student.teacher is not None and isinstance(student.teacher.soft, LogitCache)
    return trainer, student, student.teacher.soft


def test_augmented_rows_are_read_by_the_teacher_as_changed(teacher: tuple[Store, str, Path]) -> None:
    """Rows augmented as they are drawn (task.augment) are not among the cached texts: the
    teacher reads them, as changed, at that step."""
    store, teacher_id, _ = teacher
    trainer, task, cache = _taught(teacher, augment="mask", augment_prob=1.0, augment_p=0.3)
    batch = task.train_batch(16, torch.Generator().manual_seed(0))
    assert batch.texts is not None
    fresh = [t for t in batch.texts if t not in cache.index]
    assert fresh and all("[MASK]" in t for t in fresh)
    assert torch.isfinite(task.loss(trainer.model, batch))
    assert cache.misses == len(fresh)


def test_fixed_copies_are_the_teachers_transfer_set(teacher: tuple[Store, str, Path]) -> None:
    """With task.augment_copies the copies are made before the teacher is loaded, so it reads
    each once with the rows (Tang et al.'s augmented transfer set) and never on the fly."""
    store, teacher_id, _ = teacher
    trainer, task, cache = _taught(teacher, augment="mask", augment_p=0.3, augment_copies=2)
    assert task.copies_made > 0
    assert set(task.train_texts) == set(cache.index)
    copies = task.train_texts[len(task.train_texts) - task.copies_made:]
    assert all("[MASK]" in t for t in copies)
    # the cached logits are the teacher's own reading of each copy
    loaded = load_trained(store, teacher_id)
    some = copies[:8]
    expected = loaded.task.logits(loaded.model, some).float()
    assert torch.allclose(cache(some), expected, atol=1e-5)
    for seed in range(3):
        batch = task.train_batch(16, torch.Generator().manual_seed(seed))
        assert torch.isfinite(task.loss(trainer.model, batch))
    assert cache.misses == 0
