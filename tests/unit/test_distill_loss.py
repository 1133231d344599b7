"""The distillation loss (core.distill.loss) against a hand computation on a toy batch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.distill.distiller import Distiller, LogitCache
from core.distill.loss import distillation_loss

STUDENT = [[2.0, 0.5, -1.0], [0.1, 0.3, 0.2]]
TEACHER = [[3.0, 0.0, -2.0], [-1.0, 2.0, 0.5]]
LABELS = [0, 2]


def softmax(row: list[float], t: float = 1.0) -> list[float]:
    exps = [math.exp(x / t) for x in row]
    return [e / sum(exps) for e in exps]


def by_hand(alpha: float, t: float) -> float:
    """alpha * CE + (1 - alpha) * T^2 * KL(p_teacher || p_student), each a mean over the two rows."""
    ce = sum(-math.log(softmax(s)[y]) for s, y in zip(STUDENT, LABELS, strict=True)) / 2
    kl = 0.0
    for s, te in zip(STUDENT, TEACHER, strict=True):
        p, q = softmax(te, t), softmax(s, t)
        kl += sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q, strict=True))
    return alpha * ce + (1 - alpha) * t * t * kl / 2


def loss(alpha: float, t: float, student: list[list[float]] = STUDENT) -> float:
    return float(distillation_loss(torch.tensor(student), torch.tensor(TEACHER), torch.tensor(LABELS),
                                   alpha=alpha, temperature=t))


@pytest.mark.parametrize(("alpha", "t"), [(0.5, 2.0), (0.3, 1.0), (0.0, 4.0), (0.9, 0.5)])
def test_the_loss_is_the_hand_computation(alpha: float, t: float) -> None:
    assert loss(alpha, t) == pytest.approx(by_hand(alpha, t), rel=1e-5)


def test_alpha_one_is_the_plain_cross_entropy_whatever_the_teacher() -> None:
    plain = float(F.cross_entropy(torch.tensor(STUDENT), torch.tensor(LABELS)))
    assert loss(1.0, 3.0) == pytest.approx(plain, rel=1e-6)
    assert loss(1.0, 3.0) == pytest.approx(by_hand(1.0, 3.0), rel=1e-6)


def test_the_soft_term_is_scaled_by_t_squared() -> None:
    """alpha 0 leaves T^2 * KL at T: divided by T^2 it is the bare KL of the softened rows."""
    for t in (1.0, 2.0, 5.0):
        kl = by_hand(0.0, t) / (t * t)
        assert loss(0.0, t) == pytest.approx(t * t * kl, rel=1e-5)
    # The student that copies the teacher has no soft loss at any temperature.
    assert loss(0.0, 3.0, student=TEACHER) == pytest.approx(0.0, abs=1e-6)


def test_the_soft_term_teaches_the_teacher_and_no_gradient_reaches_it() -> None:
    student = torch.tensor(STUDENT, requires_grad=True)
    teacher = torch.tensor(TEACHER, requires_grad=True)
    distillation_loss(student, teacher, torch.tensor(LABELS), alpha=0.0, temperature=2.0).backward()
    assert teacher.grad is None
    # Gradient descent on the student moves its softened distribution towards the teacher's.
    moved = student.detach() - 0.5 * student.grad
    assert loss(0.0, 2.0, student=moved.tolist()) < loss(0.0, 2.0)


def test_a_distiller_reads_cached_texts_and_the_rest_on_the_fly() -> None:
    asked: list[list[str]] = []

    def teacher(texts: list[str]) -> torch.Tensor:
        asked.append(list(texts))
        return torch.tensor([[float(len(t)), 0.0] for t in texts])

    cache = LogitCache(teacher, batch_size=2)
    cache.fill(["bb", "a", "ccc", "a"])  # each text once, shortest first, in batches of two
    assert asked == [["a", "bb"], ["ccc"]] and len(cache) == 3
    got = cache(["ccc", "new text", "a"])
    assert asked[-1] == ["new text"] and cache.misses == 1
    assert got[:, 0].tolist() == [3.0, 8.0, 1.0]
    distiller = Distiller("r0", 0.5, 2.0, cache)
    logits = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    expected = distillation_loss(logits, torch.tensor([[2.0, 0.0], [1.0, 0.0]]), torch.tensor([1, 0]),
                                 alpha=0.5, temperature=2.0)
    assert float(distiller.loss(logits, torch.tensor([1, 0]), ["bb", "a"])) == pytest.approx(float(expected))
