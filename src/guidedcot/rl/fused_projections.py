"""One matmul for the projections of a decoder layer that read the same input (q, k and v of the
attention; gate and up of the MLP: Llama, Qwen2, SmolLM2), for `StaticRollouts`' sampling copy.

In a graphed decode step of a small model the weights' matmuls are launch-bound (SmolLM2-135M: 240
launches of 3-4 us a step, bench/RESULTS.md 2026-12-02), seven a layer. With the projections that share
an input laid out as one weight, four. The first projection of a group computes the whole product and
leaves it on the group; the others take their columns of it when they get the same input tensor (any
other input gets its own product). Each projection keeps its own ``weight`` (and ``bias``) as a view of
the group's weight, so the copy's parameters, their order and `StaticRollouts.sync`'s in-place copies
are what they were. Under torch.compile the group's hand-over is traced as plain dataflow (one matmul in
the graph, ``tests/test_training_correctness.py``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

GROUPS = {"self_attn": ("q_proj", "k_proj", "v_proj"), "mlp": ("gate_proj", "up_proj")}
"""Per parent module, the names of the linear layers that read the same input, in the order they run."""


class SharedProduct:
    """A group's fused weight and bias, and the last input and product while a forward pass uses them."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight, self.bias = weight, bias
        self.input: torch.Tensor | None = None
        self.product: torch.Tensor | None = None


class FusedProjection(nn.Module):
    """One projection of a group: output columns ``start:stop`` of the group's product."""

    def __init__(self, shared: SharedProduct, start: int, stop: int, *, first: bool, last: bool) -> None:
        super().__init__()
        self.shared, self.start, self.stop, self.first, self.last = shared, start, stop, first, last
        self.weight = nn.Parameter(
            shared.weight[start:stop], requires_grad=False
        )  # a view: sync writes through
        self.bias = (
            nn.Parameter(shared.bias[start:stop], requires_grad=False) if shared.bias is not None else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.shared
        if self.first:
            shared.input, shared.product = x, F.linear(x, shared.weight, shared.bias)
        elif x is not shared.input or shared.product is None:
            return F.linear(x, self.weight, self.bias)
        out = shared.product[..., self.start : self.stop]
        if self.last:  # the group is done: hold no tensors between passes
            shared.input = shared.product = None
        return out


def fuse_projections(model: nn.Module) -> int:
    """Replace every group of `GROUPS` in ``model`` (in place; after any dtype or device move) by
    `FusedProjection` modules over one weight; returns the number of groups fused."""
    fused = 0
    for module in list(model.modules()):
        for parent, names in GROUPS.items():
            owner = getattr(module, parent, None)
            layers = [getattr(owner, name, None) for name in names] if owner is not None else []
            if not layers or not all(type(layer) is nn.Linear for layer in layers):
                continue
            if (
                len({layer.in_features for layer in layers}) != 1
                or len({layer.bias is None for layer in layers}) != 1
            ):
                continue
            with torch.no_grad():
                weight = torch.cat([layer.weight for layer in layers])
                bias = torch.cat([layer.bias for layer in layers]) if layers[0].bias is not None else None
            shared, start = SharedProduct(weight, bias), 0
            for index, (name, layer) in enumerate(zip(names, layers, strict=True)):
                stop = start + layer.out_features
                projection = FusedProjection(
                    shared, start, stop, first=index == 0, last=index == len(names) - 1
                )
                setattr(owner, name, projection)
                start = stop
            fused += 1
    return fused


def views_intact(model: Any) -> bool:
    """True when every projection of ``model`` that `fuse_projections` replaced is still a view of its
    group's weight (what keeps `StaticRollouts.sync` writing into the matmul's operand)."""
    return all(
        module.weight.data_ptr() == module.shared.weight[module.start].data_ptr()
        for module in model.modules()
        if isinstance(module, FusedProjection)
    )
