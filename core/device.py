"""Device and precision choices, made once so the training loop has one code path.

torch is imported inside the functions: the workers' supervisor and the app server import this
module only to list GPUs, and on a machine without an NVIDIA driver they need no torch for that.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    import torch


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU. An explicit choice must exist."""
    import torch

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
    import torch

    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple GPU"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


def resolve_precision(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. Mixed precision on CUDA, and bf16 on a CPU
    that has bf16 instructions when asked for by name (``auto`` stays fp32 on a CPU: the speed-up
    depends on the processor and the model, so it is a choice, not a default). fp16 on a CPU is
    refused, naming the field and what it allows there."""
    import torch

    if device.type == "cpu" and precision == "bf16":
        if cpu_bf16_instructions() is None:
            raise ConfigError("training.precision", precision, "fp32 or auto on this CPU",
                              reason=f"this processor ({cpu_name()}) has no bf16 instructions "
                                     "(AVX512-BF16 or AMX on x86, BF16 on Arm), so bf16 autocast would be "
                                     "emulated, slower than fp32")
        return torch.bfloat16
    if device.type == "cpu" and precision == "fp16":
        # Refused like bf16 without its instructions: a run asked for fp16 must not quietly train fp32.
        allowed = "auto or fp32" + (" (or bf16, which this processor has)" if cpu_bf16_instructions() else "")
        raise ConfigError("training.precision", precision, f"{allowed} on a CPU",
                          reason="fp16 mixed precision runs on a CUDA GPU only")
    if device.type != "cuda":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def cpu_bf16_instructions() -> str | None:
    """The CPU's native bf16 instructions that oneDNN uses under autocast (``AMX``,
    ``AVX512-BF16``, ``BF16`` on Arm), or None when it has none."""
    import torch

    if platform.machine().lower() in ("aarch64", "arm64"):
        # oneDNN's own check; on Arm it asks for the BF16 extension (on x86 it also says yes to
        # plain AVX-512, where bf16 is emulated, hence the x86 checks below).
        return "BF16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    if torch.cpu._is_amx_tile_supported():
        return "AMX"
    return "AVX512-BF16" if torch.cpu._is_avx512_bf16_supported() else None


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``, else ``platform``), for a person to read."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown processor"


def precision_label(dtype: torch.dtype | None) -> str:
    """What really ran: ``fp32``, or ``bf16`` / ``fp16`` mixed precision."""
    import torch

    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def configure_backends(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        # TF32 matmuls: ~free speed on Ampere+ with no visible accuracy cost for training.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    import torch

    if dtype is None:
        yield
    else:
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield


def nvidia_driver_loaded() -> bool:
    """Whether this machine has an NVIDIA driver. Without one CUDA sees no GPU, so processes that
    never train (the app server's sidebar, the workers' supervisor) can say "no GPU" without
    importing torch (~220 MB and 1-2 s)."""
    return Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None


def visible_gpu_ids() -> list[str]:
    """The machine's ids of the GPUs this process sees (``CUDA_VISIBLE_DEVICES``, else all)."""
    if not nvidia_driver_loaded():
        return []
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip()][:count]
    return [str(i) for i in range(count)]


def gpu_info() -> list[str]:
    """Names of visible CUDA GPUs (empty on CPU-only machines)."""
    if not nvidia_driver_loaded():
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
