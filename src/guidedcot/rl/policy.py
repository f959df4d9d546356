"""The student as a policy: per-token log-probabilities, entropies and values of given rationales, for
causal and seq2seq students alike (`guidedcot.rl.rollout` samples them).

A rollout batch keeps the layout `generate` produces: causal students see ``[left-padded prompt |
right-padded response]`` (one row per rationale); seq2seq students get the prompt as encoder input
and the response as decoder labels. ``response_mask`` marks the real response tokens, EOS included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from guidedcot.models.hf import disable_dropout


class ValueHead(nn.Module):
    """A scalar value per position from the last hidden state (PPO's critic)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.summary.weight, std=1.0 / (hidden_size + 1))
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden.to(self.summary.weight.dtype)).squeeze(-1)


class PolicyModel(nn.Module):
    """The student with an optional value head, as one module (so DDP wraps and syncs both).

    Its log-probabilities are those of the distribution rollouts sample from: logits divided by the
    sampling ``temperature``, and no dropout (switched off at construction, as TRL does), so the update
    compares the policy with the very distribution each rationale was drawn from.
    """

    def __init__(self, model: Any, *, seq2seq: bool, with_value_head: bool, temperature: float = 1.0) -> None:
        super().__init__()
        disable_dropout(model)
        self.model = model
        self.seq2seq = seq2seq
        self.temperature = temperature if temperature > 0 else 1.0
        hidden = (
            model.config.get_text_config().hidden_size
            if hasattr(model.config, "get_text_config")
            else model.config.hidden_size
        )
        self.value_head = ValueHead(hidden) if with_value_head else None

    def forward(
        self, **tensors: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(log-probabilities of the response tokens, entropies, values), each [rows, response tokens],
        from the tensors of a `RolloutTensors` (its ``as_kwargs``)."""
        batch = RolloutTensors(**tensors)  # type: ignore[arg-type]
        want_hidden = self.value_head is not None
        prompts, inverse = _distinct_prompts(batch.prompt_ids, batch.prompt_mask)
        if self.seq2seq:
            logits, hidden = self._seq2seq_logits(batch, prompts, inverse, want_hidden)
        elif prompts.shape[0] < inverse.shape[0] and batch.response_ids.shape[1] > 1:
            logits, hidden = self._shared_prompt_logits(batch, prompts, inverse, want_hidden)
        else:
            logits, hidden = self._causal_logits(batch, want_hidden)
        logits = logits.float() / self.temperature
        log_probs = torch.log_softmax(logits, dim=-1)
        token_logprobs = log_probs.gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        values = self.value_head(hidden) if self.value_head is not None and hidden is not None else None
        return token_logprobs, entropy, values

    def _seq2seq_logits(
        self, batch: RolloutTensors, prompts: torch.Tensor, inverse: torch.Tensor, want_hidden: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (and last decoder states) of the response positions; the encoder reads each distinct
        prompt once and its states are repeated for that prompt's rows (gradients add up over them)."""
        from transformers.modeling_outputs import BaseModelOutput

        width = batch.prompt_ids.shape[1]
        encoded = self.model.get_encoder()(input_ids=prompts[:, :width], attention_mask=prompts[:, width:])
        output = self.model(
            encoder_outputs=BaseModelOutput(last_hidden_state=encoded.last_hidden_state[inverse]),
            attention_mask=batch.prompt_mask, decoder_input_ids=batch.decoder_input_ids,
            decoder_attention_mask=batch.decoder_mask, output_hidden_states=want_hidden,
        )  # fmt: skip
        return output.logits, output.decoder_hidden_states[-1] if want_hidden else None

    def _causal_logits(
        self, batch: RolloutTensors, want_hidden: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (and last hidden states) of the positions that predict response tokens, from one
        forward pass over ``[prompt | response]`` per row."""
        ids = torch.cat([batch.prompt_ids, batch.response_ids], dim=1)
        mask = torch.cat([batch.prompt_mask, batch.response_mask], dim=1)
        positions = _positions(mask)
        width = batch.response_ids.shape[1]
        # Only the last width + 1 positions predict response tokens: the LM head (a vocabulary-wide
        # matmul) and the log-softmax run on those alone, not on the whole prompt.
        output = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=want_hidden,
            logits_to_keep=width + 1,
        )  # fmt: skip
        start = output.logits.shape[1] - width - 1  # the position that predicts the first response token
        logits = output.logits[:, start : start + width]
        start = ids.shape[1] - width - 1
        hidden = output.hidden_states[-1][:, start : start + width] if want_hidden else None
        return logits, hidden

    def _shared_prompt_logits(
        self, batch: RolloutTensors, prompts: torch.Tensor, inverse: torch.Tensor, want_hidden: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`_causal_logits` for rows that share prompts (a group's k rationales): each distinct prompt is
        read once, its key/value cache repeated for its rows, and only the responses run per row.

        The same computation as one pass per row, in fewer FLOPs (a step's 4 x 4 rationales of ~400-token
        prompts and 64-token responses: 2.5x fewer tokens); gradients flow through the repeated cache
        back into the prompt's pass, so the update is the same too.
        """
        width = batch.prompt_ids.shape[1]
        prompt_ids, prompt_mask = prompts[:, :width], prompts[:, width:]
        head = self.model(
            input_ids=prompt_ids, attention_mask=prompt_mask,
            position_ids=_positions(prompt_mask), use_cache=True,
            output_hidden_states=want_hidden, logits_to_keep=1,
        )  # fmt: skip
        cache = head.past_key_values
        cache.batch_select_indices(inverse)
        mask = torch.cat([batch.prompt_mask, batch.response_mask], dim=1)
        positions = _positions(mask)
        # the response's last token predicts nothing we score: feed all but it
        tail = self.model(
            input_ids=batch.response_ids[:, :-1], attention_mask=mask[:, :-1],
            position_ids=positions[:, width:-1], past_key_values=cache, use_cache=True,
            output_hidden_states=want_hidden,
        )  # fmt: skip
        logits = torch.cat([head.logits[inverse], tail.logits], dim=1)
        hidden = None
        if want_hidden:
            hidden = torch.cat([head.hidden_states[-1][inverse][:, -1:], tail.hidden_states[-1]], dim=1)
        return logits, hidden


@dataclass
class RolloutTensors:
    """Token ids and masks of a batch of (prompt, response) rows, on one device."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    decoder_input_ids: torch.Tensor | None = None
    decoder_mask: torch.Tensor | None = None

    def as_kwargs(self) -> dict[str, torch.Tensor | None]:
        """The tensors by name, as `PolicyModel.forward` takes them (plain kwargs travel through DDP)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def rows(self, index: torch.Tensor) -> RolloutTensors:
        """The rows at ``index`` (a minibatch)."""
        return RolloutTensors(**{k: v[index] if v is not None else None for k, v in self.as_kwargs().items()})


def _distinct_prompts(
    prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct (prompt ids | prompt mask) rows of a batch, and each row's index among them."""
    rows = torch.cat([prompt_ids, prompt_mask], dim=1)
    distinct, inverse = torch.unique(rows, dim=0, return_inverse=True)
    return distinct, inverse


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of left-padded rows: 0 at each row's first real token; left pads get 0, pads after the end repeat the last position."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)
