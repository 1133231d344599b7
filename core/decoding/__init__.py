"""Decoding: sampling from language models and greedy / beam search for translation.

The knobs (temperature, top-k, top-p, beam size, ...) are declared in
:mod:`core.decoding.settings`, which imports no torch; the algorithms live in
:mod:`core.decoding.sampling` and :mod:`core.decoding.seq2seq`.
"""
