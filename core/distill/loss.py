"""The distillation loss (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network"): the labels' cross entropy, mixed with the KL divergence from the teacher's softened
distribution to the student's.

    loss = α · CE(student, labels) + (1 − α) · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

T > 1 softens both distributions, so the small probabilities the teacher gives the wrong classes
(which of them it finds plausible) carry weight; the gradients of the soft term shrink as 1/T²,
and T² puts them back on the scale of the hard term, so α means the same at any T.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, *, alpha: float, temperature: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean loss over rows: ``student`` and ``teacher`` are logits (N, C), ``targets`` class ids
    (N,). ``alpha`` = 1 is the plain cross entropy (the teacher is not read); the KL term is a
    mean over rows as the cross entropy is (``batchmean``: the true KL per row, not per class)."""
    hard = F.cross_entropy(student, targets, label_smoothing=label_smoothing)
    if alpha >= 1.0:
        return hard
    t = float(temperature)
    # In fp32 whatever the autocast: a softmax at T over a large vocabulary underflows in bf16.
    log_student = F.log_softmax(student.float() / t, dim=-1)
    log_teacher = F.log_softmax(teacher.detach().float() / t, dim=-1)
    soft = F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean")
    return alpha * hard + (1.0 - alpha) * t * t * soft
