"""What a reward costs per rationale: reader calls, prompt tokens computed vs served from the KV
cache, and seconds, for the task reward and for task + aspect, with the judge prompt laid out for
prefix sharing (question, context, rationale first; the aspect question last) or not (the aspect
question first). k rationales per question are scored together, as in an RL group.

Run: ``.venv/bin/python bench/reward_cost.py [--questions 6 --k 2 --reader qwen2.5-coder-1.5b-instruct]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judge_agreement import build_pairs

from guidedcot.llm import CachedLanguageModel, GenerationCache
from guidedcot.llm.factory import load_backend
from guidedcot.prompts import AspectPrompt
from guidedcot.prompts.judge import _ASK
from guidedcot.rewards import AspectJudge, AspectReward, TaskReward, reward_set


@dataclass(frozen=True)
class AspectFirstPrompt(AspectPrompt):
    """The layout without prefix sharing: the aspect's question comes before the long part."""

    def messages(self, question: str, context: str, rationale: str) -> tuple[tuple[str, str], ...]:
        user = (
            f"{self.question}{_ASK}\n\nQuestion: {question}\nContext:\n{context}\nRationale: {rationale}\n\n"
            + _ASK.strip()
        )
        return ((("system", self.system),) if self.system else ()) + (("user", user),)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--k", type=int, default=2, help="Rationales per question (an RL group).")
    parser.add_argument("--reader", default="qwen2.5-coder-1.5b-instruct")
    args = parser.parse_args()

    pairs = build_pairs(args.questions, seed=1)
    completions, columns = [], {"question": [], "context": [], "answers": []}
    for pair in pairs:
        for text in [pair["good"], pair["bad"]][: args.k]:
            completions.append(text)
            columns["question"].append(pair["question"])
            columns["context"].append(pair["context"])
            columns["answers"].append([pair["good"].rsplit("So the answer is ", 1)[1].rstrip(".")])
    backend = load_backend(args.reader, "llamacpp", n_ctx=2048, n_parallel=1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, mode, layout in [
            ("task", "task", None),
            ("task + aspect, aspect question first", "task+aspect", "first"),
            ("task + aspect, shared prefix (ours)", "task+aspect", "last"),
        ]:
            cache = GenerationCache(Path(folder) / f"{label}.sqlite")
            reader = CachedLanguageModel(backend, cache)
            judge = AspectJudge(reader)
            if layout == "first":
                judge.prompts = {n: AspectFirstPrompt(**vars(p)) for n, p in judge.prompts.items()}
            rewards = reward_set(mode, task=TaskReward(reader), aspect=AspectReward(judge))
            for run in ("cold", "warm"):
                before = (backend.prompt_tokens, backend.cached_prompt_tokens, reader.usage.calls)
                began = time.perf_counter()
                rewards(None, completions, **columns)
                seconds = time.perf_counter() - began
                prompt = backend.prompt_tokens - before[0]
                served = backend.cached_prompt_tokens - before[1]
                rows.append((label, run, reader.usage.calls - before[2], prompt, served, seconds))
                print(f"{label} {run}: {seconds:.1f} s", file=sys.stderr)
    n = len(completions)
    print(f"{args.questions} questions x {args.k} rationales = {n} rationales; reader {backend.identity}\n")
    print("| reward | cache | reader calls / rationale | prompt tokens / rationale | computed | "
          "from KV cache | seconds / rationale |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for label, run, calls, prompt, served, seconds in rows:
        share = f"{100 * served / prompt:.0f}%" if prompt else "–"
        print(f"| {label} | {run} | {calls / n:.1f} | {prompt / n:.0f} | {(prompt - served) / n:.0f} | "
              f"{share} | {seconds / n:.2f} |")  # fmt: skip
    cold = {label: seconds for label, run, *_, seconds in rows if run == "cold"}
    first, ours = cold["task + aspect, aspect question first"], cold["task + aspect, shared prefix (ours)"]
    print(f"\nshared-prefix layout vs aspect-first: {first / ours:.2f}x faster (cold)")


if __name__ == "__main__":
    main()
