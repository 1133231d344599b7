"""The training strategies, precisions and random streams, each on its own (core/strategies):
what the loop is told at a read-back, how a step's gradients come out, what a checkpoint keeps."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.distributed as dist

from core.errors import ConfigError
from core.strategies import (
    DDP,
    MixedPrecision,
    Precision,
    RandomStreams,
    SingleDevice,
    choose_precision,
)
from core.strategies.group import Ranks, rank_seed

CPU = torch.device("cpu")


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))


def _loss(model: torch.nn.Module, seed: int) -> torch.Tensor:
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(seed))
    return model(x).pow(2).mean()


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


# -- one device ------------------------------------------------------------------------------------
def test_one_device_reads_back_the_windows_mean_and_passes_the_votes_through() -> None:
    single = SingleDevice(CPU)
    window = torch.tensor(6.0)  # three micro-batches' losses, summed
    assert single.read_back(window, 3, 120, stop=False, late=True) == (2.0, 120, False, True)
    assert single.is_main and single.world == 1 and single.stops_anywhere
    assert single.any(True) and not single.any(False)
    assert single.summary() == {} and single.describe().startswith("cpu (")
    own = {"generator": torch.tensor([1])}
    single.share_streams(lambda: pytest.fail("one process has no one to share its streams with"))
    assert single.stream_tensors(own) is own


def test_one_device_steps_through_the_model_itself_or_its_compiled_wrapper() -> None:
    model = _model()
    assert SingleDevice(CPU).prepare(model, lambda: pytest.fail("no probe alone"), compile=False) is model
    compiled = SingleDevice(CPU).prepare(model, lambda: pytest.fail("no probe alone"), compile=True)
    assert compiled is not model and compiled._orig_mod is model  # type: ignore[union-attr]


# -- DDP -----------------------------------------------------------------------------------------------
class TwoRanks(Ranks):
    """Rank 0 of two, the other rank's share given: the collectives add it as Gloo would."""

    def __init__(self, peer_sum: list[float], peer_state: dict[str, torch.Tensor]) -> None:
        super().__init__(rank=0, world=2, local_rank=0, local_world=2, backend="gloo", device=CPU)
        self.peer_sum, self.peer_state = peer_sum, peer_state

    def sum(self, values: list[float | torch.Tensor]) -> list[float]:
        return [float(v) + p for v, p in zip(values, self.peer_sum, strict=True)]

    def gather(self, obj: Any) -> list[Any]:
        return [obj, self.peer_state]

    def any(self, flag: bool) -> bool:
        return flag or bool(self.peer_sum[2])


def test_ddp_reads_back_every_ranks_mean_tokens_and_votes() -> None:
    """Rank 0's window: 2 micro-batches summing 3.0 over 100 tokens; rank 1's sums 5.0 over 60
    tokens and was asked to stop: the global mean is 8 / 4, and every rank stops."""
    ddp = DDP(TwoRanks(peer_sum=[5.0, 60, 1.0, 0.0], peer_state={}))
    assert ddp.read_back(torch.tensor(3.0), 2, 100, stop=False, late=False) == (2.0, 160, True, False)
    assert not ddp.stops_anywhere and ddp.is_main and ddp.world == 2
    assert ddp.describe().endswith("x 2 processes (gloo)")


def test_ddp_checkpoint_keeps_every_ranks_streams_and_each_rank_restores_its_own() -> None:
    """Rank 1's streams, shared before an evaluation, go into rank 0's checkpoint under their own
    names; a rank 1 built afresh from it draws what the saving rank 1 would have drawn next."""
    rank1 = RandomStreams(seed=7, rank=1, device=CPU)
    torch.randint(100, (3,), generator=rank1.generator)  # a few batches drawn
    ddp = DDP(TwoRanks(peer_sum=[0.0] * 4, peer_state=rank1.state()))
    rank0 = RandomStreams(seed=7, rank=0, device=CPU)
    ddp.share_streams(rank0.state)
    tensors = ddp.stream_tensors(rank0.state())
    assert {"generator", "cpu_rng", "rank1.generator", "rank1.cpu_rng"} <= set(tensors)
    expected = torch.randint(100, (5,), generator=rank1.generator)
    again = RandomStreams(seed=7, rank=1, device=CPU)
    again.restore(tensors, step=3)
    assert torch.equal(torch.randint(100, (5,), generator=again.generator), expected)


@pytest.fixture
def group_of_one() -> Iterator[Ranks]:
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield Ranks(rank=0, world=1, local_rank=0, local_world=1, backend="gloo", device=CPU)
    finally:
        dist.destroy_process_group()


def test_ddp_accumulates_micro_batches_without_syncing_to_the_same_gradient(group_of_one: Ranks) -> None:
    """Micro-batches but the last skip DDP's all-reduce (no_sync); the step's gradient is still
    the sum over all of them, as without DDP."""
    model, plain = _model(), _model()
    ddp = DDP(group_of_one)
    stepped = ddp.prepare(model, lambda: _loss(model, 0), compile=False)
    assert isinstance(stepped, torch.nn.parallel.DistributedDataParallel) and stepped.module is model
    for micro in range(3):
        with ddp.micro_batch(last=micro == 2):
            assert stepped.require_backward_grad_sync == (micro == 2)
            _loss(stepped, micro).backward()
        _loss(plain, micro).backward()
    for ours, theirs in zip(_grads(model), _grads(plain), strict=True):
        torch.testing.assert_close(ours, theirs)
    assert ddp.read_back(torch.tensor(4.5), 3, 30, stop=False, late=True) == (1.5, 30, False, True)


# -- precision -----------------------------------------------------------------------------------------
def test_fp32_is_the_step_as_written() -> None:
    model, plain = _model(), _model()
    opt, plain_opt = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(plain.parameters(), lr=0.1)
    fp32 = Precision()
    with fp32.autocast():
        loss = _loss(model, 1)
    assert loss.dtype == torch.float32 and fp32.label == "fp32" and fp32.convert_module(model) is model
    fp32.backward(loss)
    fp32.unscale_(opt)
    fp32.step(opt)
    _loss(plain, 1).backward()
    plain_opt.step()
    for ours, theirs in zip(model.parameters(), plain.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    assert fp32.state_dict() == {}


def test_fp16_scales_the_loss_and_unscales_the_gradients_before_clipping() -> None:
    """The scaler multiplies the backward by its scale; unscale_ gives back the true gradient
    (what clipping must see)."""
    fp16 = MixedPrecision(CPU, torch.float16)
    assert fp16.scaler is not None and fp16.label == "fp16"
    model, plain = _model(), _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fp16.backward(_loss(model, 2))
    _loss(plain, 2).backward()
    scale = fp16.scaler.get_scale()
    for ours, theirs in zip(_grads(model), _grads(plain), strict=True):
        torch.testing.assert_close(ours, theirs * scale)
    fp16.unscale_(opt)
    for ours, theirs in zip(_grads(model), _grads(plain), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_fp16_skips_a_step_whose_gradients_overflowed_and_keeps_its_scale_in_the_checkpoint() -> None:
    fp16 = MixedPrecision(CPU, torch.float16)
    assert fp16.scaler is not None
    model = _model()
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scale = fp16.scaler.get_scale()
    fp16.backward(_loss(model, 3) * float("inf"))
    fp16.unscale_(opt)
    fp16.step(opt)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # skipped
    assert fp16.scaler.get_scale() == scale * 0.5  # backed off
    state = {"step": 9, **fp16.state_dict()}  # as in a checkpoint's state
    fresh = MixedPrecision(CPU, torch.float16)
    fresh.load_state_dict(state)
    assert fresh.scaler is not None and fresh.scaler.get_scale() == scale * 0.5
    fresh.load_state_dict({"step": 9})  # an older checkpoint without one: the scaler is left as it is
    assert fresh.scaler.get_scale() == scale * 0.5


def test_bf16_autocasts_without_a_scaler() -> None:
    bf16 = MixedPrecision(CPU, torch.bfloat16)
    assert bf16.scaler is None and bf16.state_dict() == {} and bf16.label == "bf16"
    with bf16.autocast():
        out = torch.nn.Linear(4, 2)(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize("asked", ["fp32", "auto"])
def test_auto_and_fp32_on_a_cpu_train_in_fp32_without_a_note(asked: str) -> None:
    precision, note = choose_precision(CPU, asked)
    assert type(precision) is Precision and precision.dtype is None and note is None


def test_fp16_asked_on_a_cpu_is_refused_naming_the_field_and_what_it_allows() -> None:
    """Not a quiet fp32 run with a note in its summary (as bf16 without its instructions)."""
    from core.device import cpu_bf16_instructions

    with pytest.raises(ConfigError) as caught:
        choose_precision(CPU, "fp16")
    err = caught.value
    assert err.path == "training.precision" and err.value == "fp16" and "CUDA GPU only" in str(err)
    assert "auto or fp32" in err.allowed and ("bf16" in err.allowed) == bool(cpu_bf16_instructions())


def test_mixed_precision_on_cuda_is_what_was_asked() -> None:
    precision, note = choose_precision(torch.device("cuda"), "bf16")  # nothing runs on the device here
    assert isinstance(precision, MixedPrecision) and precision.dtype == torch.bfloat16 and note is None


# -- random streams ------------------------------------------------------------------------------------
def test_rank_0_draws_the_one_process_stream_and_other_ranks_their_own() -> None:
    draw = lambda s: torch.randint(1000, (8,), generator=s.generator)  # noqa: E731
    alone = torch.randint(1000, (8,), generator=torch.Generator().manual_seed(rank_seed(3, 0) + 1))
    assert torch.equal(draw(RandomStreams(3, 0, CPU)), alone)
    assert not torch.equal(draw(RandomStreams(3, 1, CPU)), alone)


def test_a_rank_the_saving_run_did_not_have_starts_a_stream_of_its_own() -> None:
    saved = RandomStreams(3, 0, CPU).state()  # a one-process checkpoint, resumed on 3 ranks
    rank2 = RandomStreams(3, 2, CPU)
    rank2.restore(saved, step=40)
    expected = torch.Generator().manual_seed(rank_seed(3, 2) + 1 + 40)
    assert torch.equal(torch.randint(1000, (8,), generator=rank2.generator),
                       torch.randint(1000, (8,), generator=expected))
