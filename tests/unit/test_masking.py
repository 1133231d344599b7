"""BERT masking: 15% of the real tokens chosen; of those 80% masked, 10% random, 10% kept."""

from __future__ import annotations

import torch

from core.tasks.masked_lm import mask_tokens

MASK_ID, VOCAB, FIRST_REGULAR = 2, 1000, 4


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(FIRST_REGULAR, VOCAB, (512, 128), generator=g)
    lengths = torch.randint(1, 129, (512,), generator=g)
    pad_mask = torch.arange(128)[None, :] >= lengths[:, None]
    return ids.masked_fill(pad_mask, 0), pad_mask


def test_masking_statistics_match_bert() -> None:
    ids, pad_mask = _batch()
    inputs, chosen = mask_tokens(
        ids, pad_mask, mask_id=MASK_ID, vocab_size=VOCAB, first_regular=FIRST_REGULAR,
        prob=0.15, generator=torch.Generator().manual_seed(1),
    )
    real = int((~pad_mask).sum())  # ~33k tokens: each share is within a fraction of a percent
    n = int(chosen.sum())
    assert abs(n / real - 0.15) < 0.01
    masked = chosen & (inputs == MASK_ID)
    kept = chosen & (inputs == ids)
    randomised = chosen & (inputs != MASK_ID) & (inputs != ids)
    assert abs(int(masked.sum()) / n - 0.8) < 0.02
    # A random replacement equals the original with probability 1/996: counted as kept.
    assert abs(int(kept.sum()) / n - 0.1) < 0.015
    assert abs(int(randomised.sum()) / n - 0.1) < 0.015
    # Nothing outside the chosen positions changes; random ids are never special tokens.
    assert torch.equal(inputs[~chosen], ids[~chosen])
    assert int(inputs[randomised].min()) >= FIRST_REGULAR


def test_padding_is_never_chosen() -> None:
    ids, pad_mask = _batch()
    _, chosen = mask_tokens(
        ids, pad_mask, mask_id=MASK_ID, vocab_size=VOCAB, first_regular=FIRST_REGULAR,
        prob=0.5, generator=torch.Generator().manual_seed(2),
    )
    assert not bool((chosen & pad_mask).any())


def test_masking_is_reproducible_from_the_generator() -> None:
    ids, pad_mask = _batch()

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        return mask_tokens(ids, pad_mask, mask_id=MASK_ID, vocab_size=VOCAB, first_regular=FIRST_REGULAR,
                           generator=torch.Generator().manual_seed(3))

    (a, ca), (b, cb) = run(), run()
    assert torch.equal(a, b) and torch.equal(ca, cb)
