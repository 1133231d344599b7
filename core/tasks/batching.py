"""Training batches of rows of similar length (``task.group_by_length``).

A random batch of short and long rows is padded to its longest row: on SST-2's phrases (mean 9
words) a batch of 32 is as wide as its ~31-word longest row, so two thirds of what a step
computes is padding. :func:`grouped_index` draws ``groups`` batches' worth of rows uniformly,
sorts them by length, cuts them into ``groups`` slices and returns one slice picked at random.
Each slice is as likely as the others, so every row is as likely to be trained on as in a
plain random batch; only which rows share a batch changes (the idea of torchtext's
BucketIterator and Hugging Face's ``group_by_length``). It is stateless: the generator's state
alone decides the batch, so a resumed run draws the batches it would have drawn.
"""

from __future__ import annotations

import torch

# Batches' worth of rows drawn per grouped batch: enough that a slice of the sorted draw spans a
# narrow band of lengths, few enough that drawing them costs nothing next to a step.
GROUPS = 32

def grouped_index(lengths: torch.Tensor, batch_size: int, generator: torch.Generator,
                  groups: int = GROUPS) -> torch.Tensor:
    """Indices (into ``lengths``) of one training batch of rows of similar length."""
    drawn = torch.randint(len(lengths), (groups * batch_size,), generator=generator)
    by_length = drawn[torch.argsort(lengths[drawn], stable=True)]
    pick = int(torch.randint(groups, (1,), generator=generator))
    return by_length[pick * batch_size : (pick + 1) * batch_size]


def batch_index(lengths: torch.Tensor, batch_size: int, generator: torch.Generator, grouped: bool) -> torch.Tensor:
    """A training batch's indices: grouped by length, or drawn uniformly at random."""
    if grouped:
        return grouped_index(lengths, batch_size, generator)
    return torch.randint(len(lengths), (batch_size,), generator=generator)
