"""Looking inside a trained model, without Streamlit: attention capture, head statistics and
the attention snapshots saved during training.

* :mod:`core.inspect.maps`: the data (:class:`AttentionMaps`, :class:`AttentionCapture`) and its JSON;
* :mod:`core.inspect.capture`: running the model's own ``forward(..., return_attention=True)``;
* :mod:`core.inspect.heads`: per-head summaries and the alignment read-out;
* :mod:`core.inspect.snapshots`: the per-evaluation recorder the trainer uses, and its files.

Drawing any of it (bertviz, plotly) is the app's business: ``app/components/``.
"""

from core.inspect.capture import capture_attention, capture_batch, input_limit
from core.inspect.heads import HeadSummary, alignment_argmax, head_summary
from core.inspect.maps import (
    CLS_TOKEN,
    DEFAULT_MAX_TOKENS,
    EXPORT_DECIMALS,
    KIND_TITLES,
    KINDS,
    AttentionCapture,
    AttentionMaps,
    ModelSource,
    NoAttentionError,
    capture_from_dict,
    capture_to_dict,
    capture_to_json,
    display_token,
)
from core.inspect.snapshots import (
    SNAPSHOT_DECIMALS,
    SNAPSHOT_DIR,
    SNAPSHOT_MAX_PARAMS,
    SNAPSHOT_MAX_TOKENS,
    SNAPSHOT_MAX_VALUES,
    SnapshotRecorder,
    load_snapshot,
    probe_input,
    save_snapshot,
    snapshot_folder,
    snapshot_steps,
)

__all__ = [
    "CLS_TOKEN", "DEFAULT_MAX_TOKENS", "EXPORT_DECIMALS", "KINDS", "KIND_TITLES", "SNAPSHOT_DECIMALS",
    "SNAPSHOT_DIR", "SNAPSHOT_MAX_PARAMS", "SNAPSHOT_MAX_TOKENS", "SNAPSHOT_MAX_VALUES",
    "AttentionCapture", "AttentionMaps", "HeadSummary", "ModelSource", "NoAttentionError",
    "SnapshotRecorder", "alignment_argmax", "capture_attention", "capture_batch", "capture_from_dict",
    "capture_to_dict", "capture_to_json", "display_token", "head_summary", "input_limit",
    "load_snapshot", "probe_input", "save_snapshot", "snapshot_folder", "snapshot_steps",
]
