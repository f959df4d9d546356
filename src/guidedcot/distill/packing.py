"""Padding-free batches for a causal student: examples laid end to end in rows of bounded length.

Each row holds whole examples, up to ``row_tokens`` tokens (one longer example gets a row of its own),
laid out first-fit decreasing: the longest example first, each into the first row with room. On the
study's teacher examples (~320 tokens, 64 a batch, rows of 2,048) that fills 93% of a row's tokens
where the batch's order filled 87%: fewer rows, so less padding to compute. Position ids restart at
0 for every example, no attention mask is sent and the forward pass runs without a KV cache:
transformers then builds a block-diagonal causal mask from the position ids (sdpa, eager and flex
attention alike), so no example attends to another. The first label of each example is -100, as
the shifted loss of an unpacked example never predicts its first token either: the loss is the same
as with padding, over the same tokens. Rows are padded to the longest row (a multiple of
``pad_to_multiple_of``); the padding is a separate span of its own positions with labels -100.

Why rows rather than one long sequence (transformers' ``DataCollatorWithFlattening``): attention
over one row costs its length squared, so a 16k-token row of 300-token examples would spend more
on masked-out attention than on the model itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guidedcot.student.encoding import IGNORE_INDEX


@dataclass
class PackingCollator:
    """Packs a batch of ``{"input_ids", "labels"}`` examples into rows (see the module docstring)."""

    pad_token_id: int
    row_tokens: int = 2048
    pad_to_multiple_of: int | None = 8

    def rows(self, features: Sequence[dict[str, Any]]) -> list[list[int]]:
        """Indices of the examples of each row, first-fit decreasing: the longest example first (ties in
        the batch's order), each into the first row it fits, a new row when none has room."""
        rows: list[list[int]] = []
        used: list[int] = []
        for index in sorted(range(len(features)), key=lambda i: -len(features[i]["input_ids"])):
            length = len(features[index]["input_ids"])
            row = next((r for r, tokens in enumerate(used) if tokens + length <= self.row_tokens), None)
            if row is None:
                rows.append([])
                used.append(0)
                row = len(rows) - 1
            rows[row].append(index)
            used[row] += length
        return rows

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        packed = []
        for row in self.rows(features):
            ids: list[int] = []
            labels: list[int] = []
            positions: list[int] = []
            for index in row:
                example = features[index]
                ids += list(example["input_ids"])
                labels += [IGNORE_INDEX, *list(example["labels"])[1:]]
                positions += range(len(example["input_ids"]))
            packed.append((ids, labels, positions))
        width = max(len(ids) for ids, _, _ in packed)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "position_ids": []}
        for ids, labels, positions in packed:
            pad = width - len(ids)
            batch["input_ids"].append(ids + [self.pad_token_id] * pad)
            batch["labels"].append(labels + [IGNORE_INDEX] * pad)
            batch["position_ids"].append(positions + list(range(pad)))
        tensors: dict[str, Any] = {key: torch.tensor(value, dtype=torch.long) for key, value in batch.items()}
        # Without a KV cache: transformers reads example boundaries from position ids only when the
        # forward pass has no cache (a model called with use_cache on would attend across examples).
        tensors["use_cache"] = False
        return tensors
