"""How the training loop's steps run, kept apart from the loop (Lightning's Strategy and Precision
plugins): the trainer is given one strategy and one precision and calls them at fixed points.

* a **strategy** says where the steps run and what the processes agree on: one device
  (:class:`SingleDevice`) or one rank of several (:class:`DDP`, around
  :class:`core.strategies.group.Ranks`);
* a **precision** says how a step's forward, backward and optimizer step run: fp32
  (:class:`Precision`) or bf16/fp16 autocast with fp16's loss scaler (:class:`MixedPrecision`);
  :func:`choose_precision` picks one from ``training.precision`` and the device;
* :class:`RandomStreams` are one process's random generators, saved and restored per rank.
"""

from core.strategies.base import ReadBack, Strategy
from core.strategies.ddp import DDP
from core.strategies.precision import MixedPrecision, Precision, choose_precision
from core.strategies.single import SingleDevice
from core.strategies.streams import RandomStreams

__all__ = ["DDP", "MixedPrecision", "Precision", "RandomStreams", "ReadBack", "SingleDevice", "Strategy",
           "choose_precision"]
