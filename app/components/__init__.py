"""Shared UI pieces: forms from parameter declarations, charts, the live run view."""
