"""Streamlit entrypoint and shared UI pieces."""
