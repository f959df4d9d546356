"""The order a distillation run sees its examples in: length-grouped batches drawn from (seed, epoch) alone.

The HF Trainer's length-grouped sampler shuffles with the global RNG, so an epoch's order depends on
everything that drew from it before (the evaluation before training, each evaluation's data loader), and a
resumed run, which sets that RNG anew before it skips the finished batches, skipped them in another order:
inside epoch 2 or later it replayed epoch 1's. Here each epoch's order is a function of the seed and the
epoch the Trainer sets (``set_epoch``), the same in a fresh run, a resumed one and on every DDP rank.
Imported when training starts (it imports torch and transformers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """`LengthGroupedSampler` whose order in epoch ``e`` is drawn from a generator seeded with ``seed + e``."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer (through accelerate's data loader) before each epoch's iteration."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return super().__iter__()


class SeededOrderTrainer(Trainer):
    """The HF Trainer with `EpochSeededLengthGroupedSampler` in place of its length-grouped sampler."""

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, seed)
        return sampler
