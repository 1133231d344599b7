"""Device and precision choices, made once so the training loop has one code path."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from core.errors import ConfigError


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU. An explicit choice must exist."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device", preference, "'auto' or 'cpu'", reason="no CUDA GPU is visible")
    if preference == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ConfigError("training.device", preference, "'auto' or 'cpu'", reason="Apple's MPS is not available")
    return torch.device(preference)


def device_label(device: torch.device) -> str:
    """What to show a person: the GPU's name, or CPU with its thread count."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple GPU"
    return f"cpu ({torch.get_num_threads()} threads)"


def resolve_precision(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. Mixed precision only on CUDA."""
    if device.type != "cuda":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def precision_label(dtype: torch.dtype | None) -> str:
    """What really ran: ``fp32``, or ``bf16`` / ``fp16`` mixed precision."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def configure_backends(device: torch.device) -> None:
    if device.type == "cuda":
        # TF32 matmuls: ~free speed on Ampere+ with no visible accuracy cost for training.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    if dtype is None:
        yield
    else:
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield


def visible_gpu_ids() -> list[str]:
    """The machine's ids of the GPUs this process sees (``CUDA_VISIBLE_DEVICES``, else all)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip()][:count]
    return [str(i) for i in range(count)]


def gpu_info() -> list[str]:
    """Names of visible CUDA GPUs (empty on CPU-only machines)."""
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
