"""Length-grouped training batches (task.group_by_length of classification and the seq2seq
tasks): far less padding, and every row still drawn with equal probability."""

from __future__ import annotations

import torch

from core.tasks.batching import grouped_index
from core.tasks.classification import EncodedSplit


def _split(n: int = 400) -> EncodedSplit:
    lengths = [1 + (i * 7919) % 60 for i in range(n)]  # 1..60 tokens, mixed order
    return EncodedSplit([[5] * k for k in lengths], [i % 2 for i in range(n)], pad_id=0, max_length=64)


def test_grouped_batches_are_narrower_than_random_ones() -> None:
    split, gen = _split(), torch.Generator().manual_seed(0)
    grouped = [int(split.lengths[grouped_index(split.lengths, 16, gen)].max()) for _ in range(200)]
    plain = [int(split.lengths[torch.randint(len(split), (16,), generator=gen)].max()) for _ in range(200)]
    assert sum(grouped) / len(grouped) < 0.6 * sum(plain) / len(plain)
    spread = [int(split.lengths[i].max() - split.lengths[i].min()) for i in (grouped_index(split.lengths, 16, gen) for _ in range(50))]
    assert max(spread) < 30  # one band of lengths per batch, not the whole 1..60 range


def test_every_row_is_drawn_about_equally_often() -> None:
    split, gen = _split(), torch.Generator().manual_seed(1)
    counts = torch.bincount(torch.cat([grouped_index(split.lengths, 16, gen) for _ in range(5000)]), minlength=len(split))
    expected = 5000 * 16 / len(split)  # 200 per row
    # Shortest and longest rows as often as the middle ones: no edge of the sorted draw is starved.
    order = torch.argsort(split.lengths)
    assert abs(counts[order[:40]].float().mean() - expected) < 0.1 * expected
    assert abs(counts[order[-40:]].float().mean() - expected) < 0.1 * expected
    assert counts.min() > 0.6 * expected and counts.max() < 1.5 * expected


def test_the_same_generator_state_draws_the_same_batches() -> None:
    split = _split()
    a, b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert all(torch.equal(grouped_index(split.lengths, 8, a), grouped_index(split.lengths, 8, b)) for _ in range(20))
