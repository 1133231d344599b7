"""Extractive question answering, the torch-free parts: SQuAD scoring (:mod:`core.qa.squad`),
token offsets of every tokenizer kind (:mod:`core.qa.offsets`), long contexts in overlapping
windows mapped back to characters (:mod:`core.qa.windows`) and passage retrieval with its metrics
(:mod:`core.qa.retrieval`). Nothing here imports torch: the app server and the CLI can score,
split and search without loading a model."""
