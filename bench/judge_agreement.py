"""Does the judge rate a good rationale above a corrupted one? Per aspect, per corruption, overall.

Pairs come from the dev files in ../shared/data: for each question, a *good* rationale written from
its gold supporting sentences and its answer, and a *corrupted* copy of one of five kinds (cycled):
- ``wrong_bridge``: the bridge entity (first gold title) and the answer swapped for distractors;
- ``other_question``: the good rationale of another question;
- ``shuffled``: its sentences in reverse, the conclusion first;
- ``broken``: a sentence repeated, the rest cut mid-word, punctuation gone;
- ``invented``: a fact stated that the context does not hold, leading to a wrong answer.
The judge (default: the 1.5B reader of the embedded default) scores both on every aspect; a pair
counts as agreement when the good rationale scores higher (a tie counts half). Overall = R_aspect.
Every judge call goes through a cache file, so an interrupted run resumes where it stopped.

Run: ``.venv/bin/python bench/judge_agreement.py --pairs 100 [--judge qwen2.5-coder-1.5b-instruct]``
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

from guidedcot.data import Example
from guidedcot.data.context import context_texts
from guidedcot.data.selection import select_examples
from guidedcot.evaluate.stats import bootstrap_ci
from guidedcot.llm import CachedLanguageModel, GenerationCache
from guidedcot.llm.factory import load_backend
from guidedcot.pipeline import Question
from guidedcot.prompts import ASPECTS, JudgeConfig
from guidedcot.rewards import AspectJudge, AspectScores

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
KINDS = ("wrong_bridge", "other_question", "shuffled", "broken", "invented")


def gold_sentences(example: Example) -> list[str]:
    """The supporting sentences, in supporting-fact order."""
    by_title = {p.title: p for p in example.paragraphs}
    sentences = []
    for fact in example.supporting_facts:
        paragraph = by_title.get(fact.title)
        if paragraph and fact.sentence_index < len(paragraph.sentences):
            sentences.append(paragraph.sentences[fact.sentence_index].strip())
    return sentences


def good_rationale(example: Example) -> str:
    """The gold facts, then the conclusion."""
    return " ".join(gold_sentences(example)) + f" So the answer is {example.answer}."


def distractor_titles(example: Example) -> list[str]:
    gold = set(example.gold_titles)
    return [p.title for p in example.paragraphs if p.title not in gold]


def corrupt(kind: str, example: Example, good: str, other_good: str, rng: random.Random) -> str:
    """The corrupted rationale of ``kind``."""
    distractors = distractor_titles(example) or ["Springfield", "Northbridge"]
    if kind == "wrong_bridge":
        bridge = example.gold_titles[0]
        wrong = rng.choice(distractors)
        answer = next((d for d in distractors if d != wrong), "Northbridge")
        body = good.rsplit(" So the answer is ", 1)[0].replace(bridge, wrong)
        return f"{body} So the answer is {answer}."
    if kind == "other_question":
        return other_good
    sentences = re.split(r"(?<=[.!?])\s+", good)
    if kind == "shuffled":
        return " ".join(reversed(sentences))
    if kind == "broken":
        first = sentences[0].rstrip(".")
        words = " ".join(sentences[1:]).replace(".", "").replace(",", "").split()
        return f"{first} {first} {first} " + " ".join(words[: max(3, len(words) // 2)])[:-2]
    invented = rng.choice(distractors)
    return (
        f"{sentences[0]} The context also states that {example.gold_titles[-1]} was founded by "
        f"{invented} in 1787, so {invented} is what the question asks for. So the answer is {invented}."
    )


def build_pairs(n: int, seed: int) -> list[dict]:
    """``n`` pairs over HotpotQA dev then 2Wiki dev, corruption kinds cycled."""
    rng = random.Random(seed)
    examples = []
    for spec in ("hotpotqa:dev", "2wiki:dev"):
        examples += [
            e
            for e in select_examples(spec, DATA, split="dev", limit=None).examples
            if len(gold_sentences(e)) >= 2 and distractor_titles(e)
        ]
    hotpot = [e for e in examples if e.dataset == "hotpotqa"][: (n * 3) // 5]
    wiki = [e for e in examples if e.dataset == "2wiki"][: n - len(hotpot)]
    chosen = hotpot + wiki
    contexts = context_texts(chosen, "gold", max_tokens=None, count_tokens=None)
    goods = [good_rationale(e) for e in chosen]
    pairs = []
    for i, (example, context) in enumerate(zip(chosen, contexts, strict=True)):
        kind = KINDS[i % len(KINDS)]
        bad = corrupt(kind, example, goods[i], goods[(i + 7) % len(goods)], rng)
        pairs.append({"id": example.id, "dataset": example.dataset, "question": example.question,
                      "context": context, "kind": kind, "good": goods[i], "bad": bad})  # fmt: skip
    return pairs


def agreement(good: list[float], bad: list[float]) -> list[float]:
    """Per pair: 1 when good > bad, 0.5 on a tie, else 0."""
    return [1.0 if g > b else 0.5 if g == b else 0.0 for g, b in zip(good, bad, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--judge", default="qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--cache", default="bench/.cache/judge.sqlite")
    parser.add_argument("--out", default="bench/.cache/judge_agreement.json")
    parser.add_argument("--questions-json", default=None, help="JSON {aspect: question} overriding prompts.")
    parser.add_argument("--batch", type=int, default=4, help="Pairs sent to the judge together.")
    parser.add_argument("--slots", type=int, default=2, help="llama.cpp slots (rationales judged at once).")
    args = parser.parse_args()

    pairs = build_pairs(args.pairs, seed=0)
    questions = json.loads(Path(args.questions_json).read_text()) if args.questions_json else {}
    backend = load_backend(args.judge, "llamacpp", n_ctx=2048, n_parallel=args.slots)
    model = CachedLanguageModel(backend, GenerationCache(args.cache))
    judge = AspectJudge(model, JudgeConfig(questions=questions))
    began = time.perf_counter()
    good, bad = [], []
    for start in range(0, len(pairs), args.batch):
        chunk = pairs[start : start + args.batch]
        qs = [Question(p["id"], p["question"], p["context"]) for p in chunk]
        scored = judge.judge_all(qs + qs, [p["good"] for p in chunk] + [p["bad"] for p in chunk])
        good += scored[: len(chunk)]
        bad += scored[len(chunk) :]
        print(
            f"{start + len(chunk)}/{len(pairs)} pairs, {time.perf_counter() - began:.0f} s", file=sys.stderr
        )

    def pick(scores: AspectScores, aspect: str) -> float:
        return scores.total if aspect == "R_aspect" else scores.scores[aspect]

    rows = {}
    for aspect in [*ASPECTS, "R_aspect"]:
        agree = agreement([pick(s, aspect) for s in good], [pick(s, aspect) for s in bad])
        low, high = bootstrap_ci(agree, samples=2000, seed=0)
        per_kind = {
            kind: statistics.fmean(a for a, p in zip(agree, pairs, strict=True) if p["kind"] == kind)
            for kind in KINDS
        }
        rows[aspect] = {"agreement": statistics.fmean(agree), "low": low, "high": high, "per_kind": per_kind,
                        "good_mean": statistics.fmean(pick(s, aspect) for s in good),
                        "bad_mean": statistics.fmean(pick(s, aspect) for s in bad)}  # fmt: skip
    served = backend.cached_prompt_tokens / backend.prompt_tokens if backend.prompt_tokens else None
    result = {
        "judge": model.identity, "pairs": len(pairs), "kinds": dict(zip(KINDS, [sum(p["kind"] == k for p in pairs) for k in KINDS], strict=True)),
        "datasets": dict(sorted({p["dataset"]: sum(q["dataset"] == p["dataset"] for q in pairs) for p in pairs}.items())),
        "prompt_versions": judge.versions, "rows": rows, "seconds": time.perf_counter() - began,
        "judge_calls": model.usage.calls, "cache_hits": model.usage.cache_hits,
        "prompt_tokens": backend.prompt_tokens, "prompt_tokens_from_kv_cache": served,
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print("| aspect | agreement % [95% CI] | " + " | ".join(KINDS) + " | mean good | mean corrupted |")
    print("| --- | --- |" + " ---: |" * (len(KINDS) + 2))
    for aspect, row in rows.items():
        kinds = " | ".join(f"{100 * row['per_kind'][k]:.0f}" for k in KINDS)
        print(f"| {aspect} | {100 * row['agreement']:.0f} [{100 * row['low']:.0f}, {100 * row['high']:.0f}] | "
              f"{kinds} | {row['good_mean']:.2f} | {row['bad_mean']:.2f} |")  # fmt: skip
    print(f"\n{len(pairs)} pairs, {result['seconds']:.0f} s, judge calls {model.usage.calls}, "
          f"prompt tokens from the KV cache {100 * (served or 0):.0f}%")  # fmt: skip


if __name__ == "__main__":
    main()
