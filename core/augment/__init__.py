"""Text augmentation: more training rows from the ones there are (issue 27).

A training row drawn into a batch may be read in a changed form: EDA's four operations (Wei &
Zou 2019: synonym replacement, random insertion, random swap, random deletion), token masking,
synonyms from a word-vector run's nearest neighbours, or back-translation through two
translation runs in the store. Labels never change; validation and held-out rows are never
augmented.

- :mod:`core.augment.settings`: the knobs (declared once, spread into the classification task's
  parameters) and the checks a config must pass; torch-free.
- :mod:`core.augment.eda`: the word operations, pure functions of a word list and a
  ``random.Random``.
- :mod:`core.augment.synonyms`: nearest neighbours by cosine in a run's word vectors.
- :mod:`core.augment.sources`: the runs named by the knobs, loaded from the store.
- :mod:`core.augment.augmenter`: one object that changes texts, deterministic under a seed per
  row (the run's seed, the batch's draw and the row), and marks what changed for the preview.
"""
