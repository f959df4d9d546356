"""The RL step's forward/backward on the embedded default's student (SmolLM2-135M, real weights, fp32
master weights on the CPU), its variants run alternately in one process:

- LM head on every position, fp32 (the first version);
- LM head on the response positions only, fp32; then under bf16 autocast (AVX-512 BF16 / AMX kernels
  where the CPU has them);
- + each distinct prompt read once for the rows that share it (a group's k rationales; `PolicyModel`
  today, with `update`'s minibatches holding whole groups).

Rows are shaped like the RL run's: groups of ``--group`` rationales of one question, a left-padded
prompt of ~400 tokens (question + gold context) and right-padded rationales of up to 64 tokens. Two
phases are timed: the no-grad forward that gives the old and reference log-probs, and a minibatch's
forward + backward of the update.

Run: ``.venv/bin/python bench/rl_update.py [--rows 8 --group 4 --prompt 400 --response 64 --repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from unittest import mock

import torch

from guidedcot.rl import policy as policy_module
from guidedcot.rl.policy import PolicyModel, RolloutTensors
from guidedcot.student import load_student


def full_logits(policy: PolicyModel, batch: RolloutTensors) -> torch.Tensor:
    """Before: the LM head and log-softmax on every position, then the response positions kept."""
    ids = torch.cat([batch.prompt_ids, batch.response_ids], dim=1)
    mask = torch.cat([batch.prompt_mask, batch.response_mask], dim=1)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    output = policy.model(input_ids=ids, attention_mask=mask, position_ids=positions)
    start, width = batch.prompt_ids.shape[1] - 1, batch.response_ids.shape[1]
    log_probs = torch.log_softmax(output.logits[:, start : start + width].float(), dim=-1)
    return log_probs.gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1)


def response_only(policy: PolicyModel, batch: RolloutTensors) -> torch.Tensor:
    """LM head on the last response-width + 1 positions, one pass over every row's prompt."""
    with mock.patch.object(policy_module, "_distinct_prompts", every_row_distinct):
        return policy(**batch.as_kwargs())[0]


def shared_prompts(policy: PolicyModel, batch: RolloutTensors) -> torch.Tensor:
    """`PolicyModel.forward` as it is: each distinct prompt read once, then the responses."""
    return policy(**batch.as_kwargs())[0]


def every_row_distinct(
    prompt_ids: torch.Tensor, prompt_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`policy._distinct_prompts` as if no two rows shared a prompt."""
    return torch.cat([prompt_ids, prompt_mask], dim=1), torch.arange(prompt_ids.shape[0])


def rollout(rows: int, group: int, prompt: int, response: int, vocab: int) -> RolloutTensors:
    """Random token ids with the RL run's padding (prompts left-padded, rationales right-padded), in
    groups of ``group`` rows that share one prompt."""
    generator = torch.Generator().manual_seed(0)
    prompt_lengths = torch.randint(prompt * 3 // 4, prompt + 1, (rows,), generator=generator)
    prompt_lengths = prompt_lengths[torch.arange(rows) // group * group]
    response_lengths = torch.randint(response // 2, response + 1, (rows,), generator=generator)
    prompt_mask = (torch.arange(prompt)[None, :] >= prompt - prompt_lengths[:, None]).long()
    response_mask = (torch.arange(response)[None, :] < response_lengths[:, None]).long()
    prompt_ids = torch.randint(1, vocab, (rows, prompt), generator=generator)
    return RolloutTensors(
        prompt_ids=prompt_ids[torch.arange(rows) // group * group] * prompt_mask,
        prompt_mask=prompt_mask,
        response_ids=torch.randint(1, vocab, (rows, response), generator=generator) * response_mask,
        response_mask=response_mask,
    )


def timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8, help="rationales per minibatch")
    parser.add_argument(
        "--group", type=int, default=4, help="rationales per question (rows sharing a prompt)"
    )
    parser.add_argument("--prompt", type=int, default=400)
    parser.add_argument("--response", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    student = load_student("smollm2")
    policy = PolicyModel(student.model, seq2seq=False, with_value_head=False)
    batch = rollout(args.rows, args.group, args.prompt, args.response, student.model.config.vocab_size)
    with torch.no_grad():
        expected = full_logits(policy, batch) * batch.response_mask
        for variant in (response_only, shared_prompts):
            got = variant(policy, batch) * batch.response_mask
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)

    def forward(fn: Callable[[PolicyModel, RolloutTensors], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                fn(policy, batch)

        return run

    def update(fn: Callable[[PolicyModel, RolloutTensors], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            policy.zero_grad(set_to_none=True)
            (-(fn(policy, batch) * batch.response_mask).sum()).backward()

        return run

    def bf16(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                work()

        return run

    variants = {
        "before": lambda make: make(full_logits),
        "response positions": lambda make: make(response_only),
        "+ bf16 autocast": lambda make: bf16(make(response_only)),
        "+ shared prompts": lambda make: bf16(make(shared_prompts)),
    }
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # alternate, so drifts of a shared machine hit every variant alike
        for phase, make in (("forward (no grad)", forward), ("forward + backward", update)):
            for name, variant in variants.items():
                times.setdefault(f"{phase} {name}", []).append(timed(variant(make)))
    threads = torch.get_num_threads()
    print(f"SmolLM2-135M fp32, {args.rows} rows (groups of {args.group}) x ({args.prompt} prompt + "
          f"{args.response} response) tokens, {threads} threads, median of {args.repeats}:")  # fmt: skip
    for phase in ("forward (no grad)", "forward + backward"):
        before = statistics.median(times[f"{phase} before"])
        cells = [f"every position {before:.2f} s"]
        previous = before
        for name in list(variants)[1:]:
            median = statistics.median(times[f"{phase} {name}"])
            cells.append(
                f"{name} {median:.2f} s ({before / median:.2f}x; {previous / median:.2f}x the previous)"
            )
            previous = median
        print(f"  {phase}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
