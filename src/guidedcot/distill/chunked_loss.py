"""The causal student's training loss without the batch's logits: the LM head and cross-entropy run over
chunks of tokens, and each chunk's gradients are taken in the forward pass, so at most one chunk of
logits (``chunk_tokens`` x vocabulary, float32) lives at a time.

With a 152k-word vocabulary (Qwen2.5) the logits of a packed batch are most of the step's memory (25 GB
more at 128 examples) and cap its size; this removes them, in plain torch (Liger's fused kernel does the
same in Triton, but does not compile with our torch/transformers pair). The loss and gradients are those
of the model's own loss (transformers' ``ForCausalLMLoss``: labels shifted by one, -100 ignored, the sum
over ``num_items_in_batch`` when the Trainer passes it, else the mean); `tests/test_chunked_loss.py` pins
them. The loss runs outside torch.compile (its chunk loop has data-dependent length); the model's body
stays compiled.
"""

from __future__ import annotations

import types
from typing import Any

import torch

from guidedcot.student.encoding import IGNORE_INDEX

CHUNK_TOKENS = 4096


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """sum over valid tokens of -log softmax(hidden @ weight.T)[label], times ``scale``; the gradients of
    ``hidden`` and ``weight`` are computed chunk by chunk in the forward pass and scaled in the backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, scale: float, chunk: int
    ) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        for start in range(0, hidden.shape[0], chunk):
            h, y = hidden[start : start + chunk], labels[start : start + chunk]
            logits = (h @ weight.T).float()
            valid = y != IGNORE_INDEX
            target = y.clamp(min=0)
            log_norm = torch.logsumexp(logits, dim=-1)
            total += ((log_norm - logits.gather(1, target[:, None]).squeeze(1)) * valid).sum()
            grad = torch.exp(logits.sub_(log_norm[:, None]))  # softmax, in place of the logits
            grad[torch.arange(len(y), device=y.device), target] -= 1.0
            grad *= (valid.float() * scale)[:, None]
            grad = grad.to(h.dtype)
            grad_hidden[start : start + chunk] = grad @ weight
            grad_weight += (grad.T @ h).float()
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return total * scale

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None, None


@torch.compiler.disable
def chunked_causal_lm_loss(
    hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, *, num_items_in_batch: Any = None,
    chunk_tokens: int = CHUNK_TOKENS,
) -> torch.Tensor:  # fmt: skip
    """The causal LM loss of ``hidden`` ([batch, length, width]) under the LM head ``weight``, as
    transformers computes it from the logits, without materialising them (see the module docstring)."""
    shifted = torch.nn.functional.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:].reshape(-1)
    flat = hidden.reshape(-1, hidden.shape[-1])
    if torch.is_autocast_enabled(flat.device.type):  # the LM head in the autocast dtype, as the model runs it
        dtype = torch.get_autocast_dtype(flat.device.type)
        flat, weight = flat.to(dtype), weight.to(dtype)
    count = num_items_in_batch if num_items_in_batch is not None else (shifted != IGNORE_INDEX).sum()
    scale = 1.0 / max(float(count), 1.0)
    with torch.autocast(flat.device.type, enabled=False):
        return _ChunkedLinearCrossEntropy.apply(flat, weight, shifted, scale, chunk_tokens)


def use_chunked_loss(model: Any, chunk_tokens: int = CHUNK_TOKENS) -> None:
    """Give this causal LM (a transformers ``*ForCausalLM``) the chunked loss while training with labels;
    evaluation and calls without labels keep its own forward. The instance is patched, not its class."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    if getattr(model.config, "is_encoder_decoder", False):
        raise ValueError("the chunked loss is for causal students")
    own = model.forward

    def forward(
        self: Any, *args: Any, labels: Any = None, num_items_in_batch: Any = None, **kwargs: Any
    ) -> Any:
        if labels is None or not self.training:
            extra = {"num_items_in_batch": num_items_in_batch} if num_items_in_batch is not None else {}
            return own(*args, labels=labels, **extra, **kwargs)
        kwargs.pop("logits_to_keep", None)
        outputs = self.get_decoder()(*args, **kwargs)
        loss = chunked_causal_lm_loss(
            outputs.last_hidden_state, self.get_output_embeddings().weight, labels,
            num_items_in_batch=num_items_in_batch, chunk_tokens=chunk_tokens,
        )  # fmt: skip
        return CausalLMOutputWithPast(loss=loss, past_key_values=outputs.past_key_values)

    model.forward = types.MethodType(forward, model)
