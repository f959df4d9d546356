"""Rollouts: the policy's own samples, one response per prompt, laid out for `PolicyModel.forward`.

Two ways to sample, the same distribution:
- `sample_responses`: transformers' ``generate`` with a dynamic KV cache (any student, causal or seq2seq);
- `StaticRollouts`: causal students through a KV cache of fixed size and one decode step of fixed shapes,
  compiled with CUDA graphs on a GPU (``generate`` spends most of a GPU decode step in Python and kernel
  launches). It samples from a copy of the policy's weights in the rollout dtype, refreshed in place before
  each rollout (`StaticRollouts.sync`), so a captured graph always reads the current weights at fixed
  addresses, and no autocast weight cache is involved.
Both end a response at its first stop token (`stop_token_ids`, the set evaluation stops at), which it
includes; pads fill the rest. Training and the probe call them alike.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from guidedcot.errors import ConfigError
from guidedcot.models.hf import decoding_config, generate_with, stop_token_ids
from guidedcot.rl.decode_attention import use_decode_attention
from guidedcot.rl.fused_projections import fuse_projections
from guidedcot.rl.policy import RolloutTensors, _distinct_prompts, _positions


def rollout_cache_kind(choice: str, *, seq2seq: bool, cuda: bool) -> str:
    """The KV cache rollouts use for the config's ``rollout_cache`` choice: ``auto`` is static for a
    causal student on a GPU (where it is 8x faster, bench/RESULTS.md) and dynamic otherwise (a seq2seq
    student has no static path; on a CPU the static one is not measured faster)."""
    if choice == "auto":
        return "static" if cuda and not seq2seq else "dynamic"
    if choice == "static" and seq2seq:
        raise ConfigError("rollout_cache static needs a causal student; this one is seq2seq")
    return choice


def sample_responses(
    model: Any,
    tokenizer: Any,
    prompts: list[list[int]],
    *,
    seq2seq: bool,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    generator_seed: int,
    device: str | torch.device,
) -> RolloutTensors:
    """Sample one response per prompt from ``model`` through ``generate`` (no cache in between: these are
    the policy's own samples, from its full distribution at ``temperature``: none of the model's own
    generation settings apply) and lay the batch out for `PolicyModel.forward`."""
    config = decoding_config(
        model, tokenizer, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p
    )
    prompt_ids, prompt_mask = _padded_prompts(prompts, tokenizer.pad_token_id, seq2seq=seq2seq, device=device)
    _seed(generator_seed)
    with torch.no_grad():
        cache = None if seq2seq else _shared_prefill(model, prompt_ids, prompt_mask)
        shared = {"past_key_values": cache} if cache is not None else {}
        output = generate_with(model, config, input_ids=prompt_ids, attention_mask=prompt_mask, **shared)
    response = output[:, 1:] if seq2seq else output[:, prompt_ids.shape[1] :]
    return _rollout(model, tokenizer, prompt_ids, prompt_mask, response, seq2seq=seq2seq)


class StaticRollouts:
    """Causal-LM rollouts of ``rows`` prompts of up to ``max_prompt_tokens`` tokens through a static KV
    cache and one decode step of fixed shapes; with ``compile`` (a GPU), the step's forward is compiled
    (torch.compile) and the whole step, sampling included, is captured once as a CUDA graph and replayed.

    Each prompt is read once per distinct prompt (a group's k rows share it), its cache repeated into the
    static one. A step reads and writes buffers of fixed address (the last token, its position, the mask,
    which rows have stopped, the response so far), so the graph replays without Python in between.
    Sampling applies transformers' own temperature and top-p warpers and ``torch.multinomial`` to float32
    logits, as ``generate`` does, so with equal logits and the same seed the eager path draws the very
    samples ``generate`` draws (temperature 0: greedy). ``dtype`` is the sampling copy's (bf16 on a GPU:
    half the bytes a step reads); None keeps the policy's. ``fuse`` (default: with ``compile``) lays the
    projections of a layer that read the same input out as one matmul (`fuse_projections`).
    """

    def __init__(
        self,
        policy: Any,
        tokenizer: Any,
        *,
        rows: int,
        max_prompt_tokens: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        dtype: torch.dtype | None = None,
        compile: bool = False,
        fuse: bool | None = None,
    ) -> None:
        from transformers import StaticCache
        from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

        self.policy = policy
        self.model = copy.deepcopy(policy).requires_grad_(False).eval()
        if dtype is not None:
            self.model.to(dtype)
        if getattr(self.model.config, "_attn_implementation", None) == "sdpa":
            use_decode_attention(self.model)  # each cache slot read once per step, not once per query head
        if compile if fuse is None else fuse:
            fuse_projections(self.model)  # q/k/v and gate/up as one matmul each: fewer launches a step
        self.tokenizer, self.rows, self.max_new_tokens = tokenizer, rows, max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.greedy = temperature == 0
        self.warpers = [
            *([TemperatureLogitsWarper(temperature)] if temperature not in (0.0, 1.0) else []),
            *([TopPLogitsWarper(top_p)] if top_p < 1.0 else []),
        ]
        parameter = next(self.model.parameters())
        device, config = parameter.device, self.model.config
        width = max_prompt_tokens + max_new_tokens
        self.cache = StaticCache(config=config, max_cache_len=width)
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.cache.early_initialization(rows, heads, head_dim, parameter.dtype, device)
        pad = tokenizer.pad_token_id
        self.stops = stop_token_ids(policy, tokenizer)
        # the step's state, at fixed addresses
        self.mask = torch.zeros(rows, width, dtype=torch.long, device=device)
        self.token = torch.zeros(rows, 1, dtype=torch.long, device=device)
        self.position = torch.zeros(rows, 1, dtype=torch.long, device=device)
        self.opens = torch.zeros(rows, 1, dtype=torch.long, device=device)  # the mask slot the step opens
        self.t = torch.zeros(1, dtype=torch.long, device=device)
        self.finished = torch.zeros(rows, dtype=torch.bool, device=device)
        self.response = torch.full((rows, max_new_tokens), pad, dtype=torch.long, device=device)
        self.stop_ids = torch.tensor(self.stops, device=device)
        self.pads = torch.full((rows,), pad, dtype=torch.long, device=device)
        self.forward = torch.compile(self._logits, fullgraph=True, dynamic=False) if compile else self._logits
        self.capture = compile and device.type == "cuda"
        self.graph: Any = None

    def sync(self) -> None:
        """Copy the policy's current weights into the sampling copy, in place (same addresses)."""
        with torch.no_grad():
            for mine, theirs in zip(self.model.parameters(), self.policy.parameters(), strict=True):
                mine.copy_(theirs)

    def _logits(self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Float32 logits of the next token of every row: one token in, written to the cache's next slot."""
        out = self.model(
            input_ids=ids,
            position_ids=positions,
            attention_mask=mask,
            past_key_values=self.cache,
            use_cache=True,
        )
        return out.logits[:, -1, :].float()

    def _choose(self, logits: torch.Tensor) -> torch.Tensor:
        """Every row's next token from its float32 logits: greedy, or sampled as ``generate`` samples."""
        if self.greedy:
            return logits.argmax(dim=-1)
        for warp in self.warpers:
            logits = warp(self.response, logits)
        return torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1).squeeze(1)

    def _step(self) -> None:
        """One decode step on the state buffers: choose every row's next token, record it, advance."""
        chosen = self._choose(self.forward(self.token, self.position, self.mask))
        chosen = torch.where(self.finished, self.pads, chosen)
        self.response.index_copy_(1, self.t, chosen[:, None])
        self.finished |= torch.isin(chosen, self.stop_ids)
        self.token.copy_(chosen[:, None])
        self.position += 1
        self.mask.scatter_(1, self.opens, 1)
        self.opens += 1
        self.t += 1

    def sample(self, prompts: list[list[int]], *, generator_seed: int) -> RolloutTensors:
        """One response per prompt (``rows`` of them), from the weights of the last `sync`."""
        if len(prompts) != self.rows:
            raise ValueError(f"StaticRollouts was built for {self.rows} rows, got {len(prompts)} prompts")
        pad = self.tokenizer.pad_token_id
        prompt_ids, prompt_mask = _padded_prompts(prompts, pad, seq2seq=False, device=self.mask.device)
        if prompt_ids.shape[1] > self.max_prompt_tokens:
            raise ValueError(
                f"a prompt of {prompt_ids.shape[1]} tokens is longer than max_prompt_tokens={self.max_prompt_tokens}"
            )
        with torch.no_grad(), torch.autocast(self.mask.device.type, enabled=False):
            if self.capture and self.graph is None:
                self._start(prompt_ids, prompt_mask)
                self.graph = _captured(self._step, warmups=min(3, self.max_new_tokens))
            self._start(prompt_ids, prompt_mask)
            _seed(generator_seed)
            for t in range(self.max_new_tokens):
                self.graph.replay() if self.graph is not None else self._step()
                if t % 8 == 7 and bool(self.finished.all()):  # one device sync every 8 steps
                    break
        response = self.response.clone()
        # as wide as `generate` leaves it: up to the step at which the last row stopped
        ends = _until_stop(response, self.stops).sum(dim=1)
        response = response[:, : int(ends.max())]
        return _rollout(self.model, self.tokenizer, prompt_ids, prompt_mask, response, seq2seq=False)

    def _start(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> None:
        """Reset the state and fill the cache with every prompt but its last token (each distinct prompt
        read once); the first step then reads the last prompt token."""

        width = prompt_ids.shape[1]
        self.cache.reset()
        self.mask.zero_()
        self.mask[:, :width] = prompt_mask
        self.token.copy_(prompt_ids[:, -1:])
        self.position.copy_(_positions(prompt_mask)[:, -1:])
        self.opens.fill_(width)
        self.t.zero_()
        self.finished.zero_()
        self.response.fill_(self.tokenizer.pad_token_id)
        if width < 2:
            return
        distinct, inverse = _distinct_prompts(prompt_ids, prompt_mask)
        prefilled = _prefill(self.model, distinct, width)
        for index, layer in enumerate(prefilled.layers):  # written at slots 0 .. width - 2
            self.cache.update(layer.keys[inverse], layer.values[inverse], index)


def _captured(step: Any, *, warmups: int) -> Any:
    """``step`` captured as a CUDA graph, after ``warmups`` runs on a side stream (compilation, cuBLAS
    workspaces); the caller resets the state the warm-up ran over. Replays draw fresh random numbers."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmups):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph


def decode_responses(tokenizer: Any, rollout: RolloutTensors) -> list[str]:
    """The rationale text of each row, stripped: its pad-filled ids decoded without special tokens.

    (Never ``ids * mask``: id 0 is a real token in many vocabularies, ``!`` in Qwen2, Llama-3 and GPT-2.)
    """
    texts = tokenizer.batch_decode(rollout.response_ids, skip_special_tokens=True)
    return [text.strip() for text in texts]


def _padded_prompts(
    prompts: list[list[int]], pad: int, *, seq2seq: bool, device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt ids and mask: right-padded for an encoder, left-padded for a causal model (as generation needs)."""
    width = max(len(p) for p in prompts)
    if seq2seq:
        ids = [p + [pad] * (width - len(p)) for p in prompts]
        mask = [[1] * len(p) + [0] * (width - len(p)) for p in prompts]
    else:
        ids = [[pad] * (width - len(p)) + p for p in prompts]
        mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def _seed(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _rollout(
    model: Any, tokenizer: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response: torch.Tensor,
    *, seq2seq: bool,
) -> RolloutTensors:  # fmt: skip
    """The batch as `PolicyModel.forward` reads it: responses cut after their first stop token."""
    pad = tokenizer.pad_token_id
    response_mask = _until_stop(response, stop_token_ids(model, tokenizer))
    response = torch.where(response_mask.bool(), response, torch.full_like(response, pad))
    tensors = RolloutTensors(prompt_ids, prompt_mask, response, response_mask)
    if seq2seq:
        start = torch.full_like(response[:, :1], model.config.decoder_start_token_id)
        tensors.decoder_input_ids = torch.cat([start, response[:, :-1]], dim=1)
        tensors.decoder_mask = torch.cat([torch.ones_like(start), response_mask[:, :-1]], dim=1)
    return tensors


def _shared_prefill(model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> Any | None:
    """The key/value cache of every prompt but its last token, each distinct prompt read once and repeated
    for its rows (a group's k rationales), for ``generate`` to continue from; None when no prompt repeats.
    Sampling from it is sampling from the same distribution, in fewer FLOPs."""

    distinct, inverse = _distinct_prompts(prompt_ids, prompt_mask)
    width = prompt_ids.shape[1]
    if distinct.shape[0] == prompt_ids.shape[0] or width < 2:
        return None
    cache = _prefill(model, distinct, width)
    cache.batch_select_indices(inverse)
    return cache


def _prefill(model: Any, distinct: torch.Tensor, width: int) -> Any:
    """The dynamic KV cache of the distinct (prompt ids | prompt mask) rows, all but each prompt's last token."""
    from transformers import DynamicCache

    ids, mask = distinct[:, : width - 1], distinct[:, width : 2 * width - 1]
    cache = DynamicCache(config=model.config)
    model(
        input_ids=ids, attention_mask=mask, position_ids=_positions(mask),
        past_key_values=cache, use_cache=True, logits_to_keep=1,
    )  # fmt: skip
    return cache


def _until_stop(tokens: torch.Tensor, stops: list[int]) -> torch.Tensor:
    """1 up to and including each row's first stop token (everything when a row has none), else 0."""
    is_stop = torch.isin(tokens, torch.tensor(stops, device=tokens.device))
    after = (is_stop.cumsum(dim=1) - is_stop.long()) > 0  # strictly after the first stop token
    return (~after).long()
