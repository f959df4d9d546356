"""Shared fixtures: the real dataset folder beside the checkout, and an isolated cache per test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(
    os.environ.get("GUIDEDCOT_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $GUIDEDCOT_DATA): the real dataset files, never copied into the repo."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"dataset folder {SHARED_DATA} not found: tests read the real data from ../shared/data")
    return SHARED_DATA


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh GUIDEDCOT_CACHE for tests that must not touch (or reuse) the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GUIDEDCOT_CACHE", str(cache))
    return cache


@contextlib.contextmanager
def running_url_process(
    args: list[str], *, log: Path | None = None, env: dict[str, str] | None = None, wait_s: float = 60
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A server process whose first line on stdout is its http://127.0.0.1 URL: (process, URL).

    Its stderr goes to ``log`` (or nowhere): a pipe nobody reads would fill and stall the server.
    """
    with contextlib.ExitStack() as files:
        stderr = files.enter_context(log.open("w")) if log else subprocess.DEVNULL
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        detail = log.read_text()[-2000:] if log else ""
        assert url.startswith("http://127.0.0.1:"), f"{args[2]} did not start (got {url!r}) {detail}"
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=wait_s)


def running_llama_server(
    model: str = "smollm2", n_ctx: int = 2048, n_parallel: int = 2, port: int = 0
) -> contextlib.AbstractContextManager[tuple[subprocess.Popen[str], str]]:
    """A real llama.cpp OpenAI-compatible server process on 127.0.0.1: (process, /v1 URL)."""
    args = [sys.executable, "-m", "guidedcot.llm.llamacpp_server", model, "--n-ctx", str(n_ctx),
            "--n-parallel", str(n_parallel), "--port", str(port)]  # fmt: skip
    return running_url_process(args, wait_s=30)


@pytest.fixture(scope="session")
def llama_server_process() -> Callable[
    ..., contextlib.AbstractContextManager[tuple[subprocess.Popen[str], str]]
]:
    """Starts real llama.cpp server processes: ``with llama_server_process() as (process, url)``."""
    return running_llama_server


@pytest.fixture(scope="session")
def make_teacher(shared_data: Path) -> Callable[..., Any]:
    """Builds scripted teachers over the real HotpotQA training file:
    right on even-indexed questions (stating the answer), wrong on odd ones."""
    from guidedcot.data.selection import select_examples
    from guidedcot.llm import FakeLanguageModel, GenerationRequest
    from guidedcot.llm.fake import request_text

    examples = select_examples("hotpotqa:train", shared_data, split="train", limit=None).examples
    by_question = {e.question: (i, e.answer) for i, e in enumerate(examples)}

    def answer(request: GenerationRequest) -> str:
        question = request_text(request).split("Question: ", 1)[1].split("\n", 1)[0]
        index, gold = by_question[question]
        if index % 2 == 0:
            return f"Reasoning: step {request.sample_index}: the context names {gold}.\nPrediction: {gold}"
        return f"Reasoning: I guess (sample {request.sample_index}).\nPrediction: something else"

    return lambda name="teacher": FakeLanguageModel(answer, name=name)


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir() -> Path:
    from guidedcot.models import resolve_model

    path = resolve_model("smollm2").hf_path
    assert path is not None
    return Path(path)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
            eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
        )
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


QWEN_LIKE_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def qwen_like_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A small byte-level BPE tokenizer trained (in about a second) on real HotpotQA text, laid out as
    Qwen2's is: id 0 is the real token ``!``, ``<|im_end|>`` is EOS, ``<|endoftext|>`` the pad, with a
    ChatML template. It reproduces, without any download, what a tokenizer like SmolLM2's hides."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    records = json.loads((shared_data / "hotpotqa" / "hotpot_dev_distractor_sample10.json").read_text())
    texts = [r["question"] for r in records] + [" ".join(s) for r in records for _, s in r["context"]]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe)
    tokenizer.add_special_tokens(
        {
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "additional_special_tokens": ["<|im_start|>"],
        }
    )
    tokenizer.chat_template = QWEN_LIKE_CHAT_TEMPLATE
    assert tokenizer.convert_ids_to_tokens(0) == "!"
    folder = tmp_path_factory.mktemp("qwen-like-tokenizer")
    tokenizer.save_pretrained(folder)
    return folder
