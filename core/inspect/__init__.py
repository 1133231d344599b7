"""Looking inside a trained model, without Streamlit: attention capture, head statistics, the
attention snapshots saved during training, and (imported on use, not here) salience, the logit
lens and activation patching. It sits below the trainer (which records snapshots); the error
analysis of a trained run's examples, which loads runs, is :mod:`core.examples`, above.

* :mod:`core.inspect.maps`: the data (:class:`AttentionMaps`, :class:`AttentionCapture`) and its JSON;
* :mod:`core.inspect.activations`: reading / replacing activations at named hook points, the one
  way to look inside a model (``run_with_cache``, ``caching``, ``patching``);
* :mod:`core.inspect.capture`: the model's own forward, its attention read at the hook points;
* :mod:`core.inspect.heads`: per-head summaries and the alignment read-out;
* :mod:`core.inspect.snapshots`: the per-evaluation recorder the trainer uses, and its files;
* :mod:`core.inspect.salience`: per-token attributions by Captum (IG, gradient x input);
* :mod:`core.inspect.lens`: the logit lens; :mod:`core.inspect.patching`: activation patching.

Drawing any of it (bertviz, plotly) is the app's business: ``app/components/``.
"""

import importlib
from typing import Any

# Imported on first use (PEP 562): ``core.inspect.settings`` (the CLI's flags) must not pull in
# torch, and the names below stay reachable as ``core.inspect.X``.
_SOURCES = {
    "core.inspect.activations": ("hook_points", "run_with_cache"),
    "core.inspect.capture": ("capture_attention", "capture_batch", "input_limit", "may_have_attention"),
    "core.inspect.heads": ("HeadSummary", "alignment_argmax", "head_summary"),
    "core.inspect.maps": (
        "CLS_TOKEN", "DEFAULT_MAX_TOKENS", "EXPORT_DECIMALS", "KIND_TITLES", "KINDS", "AttentionCapture",
        "AttentionMaps", "ModelSource", "NoAttentionError", "capture_from_dict", "capture_to_dict",
        "capture_to_json", "display_token",
    ),
    "core.inspect.snapshots": (
        "SNAPSHOT_DECIMALS", "SNAPSHOT_DIR", "SNAPSHOT_MAX_PARAMS", "SNAPSHOT_MAX_TOKENS", "SNAPSHOT_MAX_VALUES",
        "SnapshotRecorder", "load_snapshot", "probe_input", "save_snapshot", "snapshot_folder", "snapshot_steps",
    ),
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'core.inspect' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
