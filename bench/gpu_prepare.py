"""Prepare `.gpu/` (git-ignored) for the GPU machine, where no model weights or data can be fetched:
the dataset files, SmolLM2's tokenizer and Qwen2.5's (read from the reader's GGUF; no weights), a teacher store from the real HotpotQA train
questions with a scripted teacher (correct on every question, stating the gold answer), and the
token lengths of the real training examples that store gives (the padded-batch shape of real SFT).

Run here: ``.venv/bin/python bench/gpu_prepare.py``; then carry ``.gpu`` and ``.whl`` to the device.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from guidedcot.data.discovery import resolve_data_dir
from guidedcot.data.selection import select_examples
from guidedcot.distill import GenerateConfig, generate_rationales
from guidedcot.distill.store import load_records
from guidedcot.distill.trainset import build_training_set
from guidedcot.llm import FakeLanguageModel, GenerationRequest
from guidedcot.llm.types import request_text
from guidedcot.models import resolve_model
from guidedcot.prompts import build_templates
from guidedcot.student import encode_rationale_example

ROOT = Path(__file__).resolve().parents[1] / ".gpu"


def main() -> None:
    data_dir = resolve_data_dir(None)
    if ROOT.exists():
        shutil.rmtree(ROOT)
    shutil.copytree(data_dir, ROOT / "data")
    tokenizer_dir = Path(str(resolve_model("smollm2").hf_path))
    (ROOT / "smollm2-tokenizer").mkdir(parents=True)
    for file in tokenizer_dir.iterdir():
        if file.is_file() and not file.name.endswith((".safetensors", ".bin")) and file.name != "config.json":
            shutil.copy(file, ROOT / "smollm2-tokenizer" / file.name)

    from transformers import AutoTokenizer

    gguf = Path(str(resolve_model("qwen2.5-coder-1.5b-instruct", hf=False).gguf_path))
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(
        ROOT / "qwen-tokenizer"
    )

    examples = select_examples("hotpotqa:train", data_dir, split="train", limit=None).examples
    gold = {e.question: e.answer for e in examples}

    def teacher(request: GenerationRequest) -> str:
        question = request_text(request).split("Question: ", 1)[1].split("\n", 1)[0]
        return (
            f"Reasoning: the context names {gold[question]} for this question.\nPrediction: {gold[question]}"
        )

    config = GenerateConfig(datasets=["hotpotqa:train"], out=str(ROOT / "teacher"), cache="none")
    store = generate_rationales(
        config, teacher=FakeLanguageModel(teacher, name="scripted"), data_dir=data_dir
    )

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    template = build_templates()["student"]
    kept, _ = build_training_set(load_records(ROOT / "teacher" / "rationales.jsonl"), criterion="em")
    lengths = [
        len(
            encode_rationale_example(
                tokenizer, template, {"question": e.question, "context": e.context}, e.rationale,
                seq2seq=False, max_length=1024,
            )["input_ids"]
        )
        for e in kept
    ]  # fmt: skip
    (ROOT / "lengths.json").write_text(json.dumps(lengths), encoding="utf-8")
    size = sum(f.stat().st_size for f in ROOT.rglob("*") if f.is_file())
    print(f"{ROOT}: {len(store.records)} teacher records, {len(lengths)} examples "
          f"(tokens: min {min(lengths)}, mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}), {size / 1e6:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
