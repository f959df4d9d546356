"""The guided method's student on the CPU: seconds per question writing greedy rationales for real
dev questions, one at a time against batches, fp32 against bf16 autocast, through the transformers
backend that evaluation uses for a student folder (a distilled or RL student), and the greedy texts
of each variant compared with one-at-a-time fp32.

Run: ``.venv/bin/python bench/student_speed.py [--questions 16 --repeats 2]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from guidedcot.data import ContextMode
from guidedcot.data.context import build_contexts
from guidedcot.data.selection import select_examples
from guidedcot.llm.hf import TransformersLanguageModel
from guidedcot.models.hf import native_bf16
from guidedcot.pipeline.requests import template_request
from guidedcot.prompts import build_templates
from guidedcot.student import load_student


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64, help="rationale tokens at most")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    selection = select_examples(f"hotpotqa:dev[0:{args.questions}]", args.data_dir, split="dev", limit=None)
    contexts = build_contexts(selection.examples, ContextMode.GOLD, max_tokens=1024, count_tokens=None)
    template = build_templates()["student"]
    requests = [
        template_request(template, {"question": e.question, "context": c.text}, max_new_tokens=args.tokens)
        for e, c in zip(selection.examples, contexts, strict=True)
    ]
    student = load_student("smollm2")
    variants = {"batch 1, fp32": (1, False), "batch 8, fp32": (8, False)}
    if native_bf16("cpu"):
        variants["batch 8, bf16 autocast"] = (8, True)
    times: dict[str, list[float]] = {}
    texts: dict[str, list[str]] = {}
    for _ in range(args.repeats):  # alternate, so a shared machine's drifts hit every variant alike
        for name, (batch, bf16) in variants.items():
            model = TransformersLanguageModel(
                "", identity="bench", model=student.model, tokenizer=student.tokenizer, batch_size=batch,
                device="cpu", autocast_bf16=bf16,
            )  # fmt: skip
            started = time.perf_counter()
            generations = model.generate(requests)
            times.setdefault(name, []).append((time.perf_counter() - started) / len(requests))
            texts[name] = [g.text for g in generations]
    reference = texts["batch 1, fp32"]
    base = statistics.median(times["batch 1, fp32"])
    print(f"SmolLM2-135M-Instruct, {len(requests)} HotpotQA dev questions (gold context), greedy rationales "
          f"of <= {args.tokens} tokens, {torch.get_num_threads()} threads, median of {args.repeats}:")  # fmt: skip
    for name in variants:
        seconds = statistics.median(times[name])
        same = sum(a == b for a, b in zip(texts[name], reference, strict=True))
        print(f"  {name}: {seconds:.2f} s a question ({base / seconds:.2f}x), "
              f"greedy text identical to batch 1 fp32: {same} / {len(reference)}")  # fmt: skip


if __name__ == "__main__":
    main()
