"""A step's optimisation: the reference's log-probabilities, the order of the minibatches, and
``epochs_per_step`` passes of clipped-surrogate updates plus the algorithm's term (`guidedcot.rl.algorithms`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from guidedcot.llm.types import stable_seed
from guidedcot.rl.algorithms import Algorithm
from guidedcot.rl.config import RLConfig
from guidedcot.rl.core import masked_mean, policy_loss
from guidedcot.rl.policy import PolicyModel, RolloutTensors


def reference_logprobs(
    policy: PolicyModel, reference: PolicyModel | None, rollout: RolloutTensors
) -> torch.Tensor:
    """Token log-probabilities under the frozen reference (for LoRA: the base without its adapters)."""
    if reference is not None:
        return reference(**rollout.as_kwargs())[0]
    with policy.model.disable_adapter():
        return policy(**rollout.as_kwargs())[0]


def minibatch_order(
    rows: int, group_size: int, minibatch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """A shuffled order of a step's rows for its minibatches. Where whole groups fit a minibatch (and the
    rows are whole groups), groups are shuffled and kept together, so a minibatch's rationales of one
    question share its prompt's pass (`PolicyModel`); otherwise rows are shuffled one by one."""
    if group_size > 1 and rows % group_size == 0 and minibatch_size % group_size == 0:
        groups = torch.randperm(rows // group_size, generator=generator)
        return (groups[:, None] * group_size + torch.arange(group_size)).flatten()
    return torch.randperm(rows, generator=generator)


@dataclass
class StepBatch:
    """What a step's update works on: the rollout, the log-probabilities it was sampled with and the
    reference's, the critic's values (PPO), the advantages and returns, and the real-token mask."""

    rollout: RolloutTensors
    old_logp: torch.Tensor
    ref_logp: torch.Tensor
    old_values: torch.Tensor | None
    advantages: torch.Tensor
    returns: torch.Tensor | None
    mask: torch.Tensor


def update(
    policy: Any, optimizer: Any, scheduler: Any, accelerator: Any, batch: StepBatch, *, kl_coef: float,
    config: RLConfig, step: int, algorithm: Algorithm,
) -> dict[str, float]:  # fmt: skip
    """``epochs_per_step`` passes of minibatch updates of the clipped surrogate plus ``algorithm``'s own
    term; stops early past 1.5 x ``target_kl``."""
    mask, old_logp, ref_logp = batch.mask, batch.old_logp, batch.ref_logp
    old_values, advantages, returns = batch.old_values, batch.advantages, batch.returns
    rows = mask.shape[0]
    sums: dict[str, list[float]] = {}
    generator = torch.Generator().manual_seed(stable_seed(config.seed, step, 17))
    epochs_run = 0
    for _ in range(config.epochs_per_step):
        epoch_kl = []
        order = minibatch_order(rows, config.group_size, config.minibatch_size, generator)
        for start in range(0, rows, config.minibatch_size):
            index = order[start : start + config.minibatch_size].to(mask.device)
            minibatch = batch.rollout.rows(index)
            logp, entropy, values = policy(**minibatch.as_kwargs())
            m = mask[index]
            stats = policy_loss(logp, old_logp[index], advantages[index], m, config.clip_range)
            term, logged = algorithm.loss_term(
                logp, ref_logp[index], values, old_values[index] if old_values is not None else None,
                returns[index] if returns is not None else None, m, kl_coef,
            )  # fmt: skip
            loss = stats.loss + term
            for name, value in logged.items():
                sums.setdefault(name, []).append(value)
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            sums.setdefault("policy_loss", []).append(stats.loss.item())
            sums.setdefault("clip_fraction", []).append(stats.clip_fraction)
            sums.setdefault("approx_kl", []).append(stats.approx_kl)
            sums.setdefault("entropy", []).append(masked_mean(entropy.detach(), m).item())
            epoch_kl.append(stats.approx_kl)
        epochs_run += 1
        mean_kl = accelerator.reduce(
            torch.tensor(sum(epoch_kl) / len(epoch_kl), device=mask.device), "mean"
        ).item()
        if config.target_kl is not None and mean_kl > 1.5 * config.target_kl:
            break
    result = {k: sum(v) / len(v) for k, v in sums.items()}
    result["epochs_run"] = epochs_run
    result["learning_rate"] = scheduler.get_last_lr()[0]
    return result
