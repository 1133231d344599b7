"""LM Workbench engine: data, tokenizers, models, training, metrics, store. Never imports Streamlit."""
