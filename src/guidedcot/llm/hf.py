"""transformers backend, causal or seq2seq: batched (left padding for causal), CUDA + bf16 where available."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from guidedcot import defaults
from guidedcot.llm.types import Generation, GenerationRequest
from guidedcot.models.hf import (
    decoding_config,
    default_device,
    ensure_pad_token,
    generate_with,
    has_chat_template,
    load_hf_model,
    render_chat,
    stop_token_ids,
)

logger = logging.getLogger(__name__)


class TransformersLanguageModel:
    """A Hugging Face model (folder or hub id) generating in batches of ``batch_size``."""

    def __init__(
        self,
        path: str,
        *,
        identity: str,
        revision: str | None = None,
        batch_size: int = defaults.BATCH_SIZE,
        device: str | None = None,
        model: Any = None,
        tokenizer: Any = None,
        autocast_bf16: bool = False,
    ) -> None:
        if model is None:
            loaded = load_hf_model(path, revision=revision, device=device)
            model, tokenizer, self.device = loaded.model, loaded.tokenizer, loaded.device
        else:
            from transformers import AutoTokenizer

            self.device = device or default_device()
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, revision=revision)
            ensure_pad_token(tokenizer)
        self.seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "right" if self.seq2seq else "left"
        self.batch_size = batch_size
        self.autocast_bf16 = autocast_bf16
        self._identity = f"transformers:{identity}" + (":bf16-autocast" if autocast_bf16 else "")

    @property
    def identity(self) -> str:
        return self._identity

    def render(self, request: GenerationRequest) -> str:
        """The prompt text: the chat template applied to messages where the tokenizer has one."""
        if request.prompt is not None:
            return request.prompt
        return render_chat(self.tokenizer, [(m.role, m.content) for m in request.messages or ()])[0]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)

        def params(item: tuple[int, GenerationRequest]) -> tuple:
            r = item[1]
            return (r.messages is None, r.max_new_tokens, r.temperature, r.top_p, r.stop)

        for _, group in groupby(sorted(enumerate(requests), key=params), key=params):
            items = list(group)
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                for (index, _), result in zip(batch, self._batch([r for _, r in batch]), strict=True):
                    results[index] = result
        return [r for r in results if r is not None]

    def _encode(self, requests: Sequence[GenerationRequest]) -> Any:
        """The padded batch of prompts (requests of one batch are all chat or all raw)."""
        texts = [self.render(r) for r in requests]
        templated = requests[0].messages is not None and has_chat_template(self.tokenizer)
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not templated).to(
            self.device
        )

    def _batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList

        first = requests[0]
        inputs = self._encode(requests)
        # greedy under decoding settings of our own (never a hub model's repetition penalty or top-k);
        # sampled requests draw through RowSeededSampler, which leaves greedy decoding one token to take
        config = decoding_config(self.model, self.tokenizer, max_new_tokens=first.max_new_tokens)
        extra: dict[str, Any] = {}
        if not first.greedy:
            # Each row draws from its own generator seeded by its request, so a sample depends on
            # its seed and sample index only, never on the other rows of its batch.
            sampler = RowSeededSampler(
                [r.effective_seed for r in requests], first.temperature, first.top_p, self.device
            )
            extra["logits_processor"] = LogitsProcessorList([sampler])
        if first.stop:
            config.stop_strings = list(first.stop)
            extra["tokenizer"] = self.tokenizer
        with torch.inference_mode(), self._autocast():
            output = generate_with(self.model, config, **inputs, **extra)
        new_tokens = output if self.seq2seq else output[:, inputs["input_ids"].shape[1] :]
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        results = []
        eos = set(stop_token_ids(self.model, self.tokenizer))
        for row, prompt_tokens in zip(new_tokens.tolist(), prompt_lengths, strict=True):
            if self.seq2seq and row and row[0] == self.model.config.decoder_start_token_id:
                row = row[1:]
            tokens = []
            for token in row:
                if token in eos:
                    break
                tokens.append(token)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            finish = "length" if len(tokens) >= first.max_new_tokens else "stop"
            for stop in first.stop:
                if stop in text:
                    text = text[: text.index(stop)]
                    finish = "stop"
            results.append(Generation(text, finish, int(prompt_tokens), len(tokens)))
        return results

    def _autocast(self) -> Any:
        """bf16 autocast over the model's own weights when asked (``autocast_bf16``), else nothing."""
        import contextlib

        import torch

        if not self.autocast_bf16:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16)

    def choice_logprobs(
        self, requests: Sequence[GenerationRequest], options: Sequence[str]
    ) -> list[dict[str, float]]:
        """From the logits of the first answer token (top 20, aggregated as the HTTP backends do)."""
        import torch

        from guidedcot.llm.openai_format import aggregate_options

        scores: list[dict[str, float]] = []
        for start in range(0, len(requests), self.batch_size):
            batch = list(requests[start : start + self.batch_size])
            inputs = self._encode(batch)
            with torch.inference_mode():
                if self.seq2seq:
                    start_ids = torch.full(
                        (len(batch), 1), self.model.config.decoder_start_token_id, device=self.device
                    )
                    logits = self.model(**inputs, decoder_input_ids=start_ids).logits[:, -1, :]
                else:  # left padding: the last position is every row's next token
                    logits = self.model(**inputs).logits[:, -1, :]
            top = torch.log_softmax(logits.float(), dim=-1).topk(20, dim=-1)
            for values, ids in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                entries = [(self.tokenizer.decode([i]), v) for i, v in zip(ids, values, strict=True)]
                scores.append(aggregate_options(entries, options))
        return scores


class RowSeededSampler:
    """A logits processor that samples each row with its own seeded generator (temperature, top-p)
    and leaves only the drawn token open, so greedy decoding then takes exactly that token."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device: str) -> None:
        import torch

        self.temperature = temperature
        self.top_p = top_p
        self.generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            outside = sorted_probs.cumsum(dim=-1) - sorted_probs > self.top_p
            sorted_probs = sorted_probs.masked_fill(outside, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        picks = torch.stack(
            [torch.multinomial(row, 1, generator=g) for row, g in zip(probs, self.generators, strict=True)]
        )
        return torch.full_like(scores, -float("inf")).scatter(-1, picks, 0.0)
