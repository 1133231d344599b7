"""Architectures. Backbones map token ids to hidden states; heads (heads.py) turn them into
class logits or next-token logits. One architecture per file, registered in MODELS."""
