"""Small text formatting shared by the CLI and the pages."""

from __future__ import annotations


def format_duration(seconds: float | None, missing: str = "?") -> str:
    """``42s``, ``3m 05s``, ``1h 02m``; ``missing`` for None or NaN."""
    if seconds is None or seconds != seconds:
        return missing
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"
