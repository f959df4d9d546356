"""The RL math, top to bottom, on padded [batch, tokens] tensors with a 0/1 ``mask`` of real tokens.

- `masked_mean`, `masked_whiten`: statistics over real tokens only;
- `kl_penalty`: per-token KL estimates between the policy and the frozen reference (k1, k3);
- `gae`: generalised advantage estimation over each response (PPO);
- `policy_loss`: the clipped surrogate, with the clip fraction and approximate KL it logs;
- `value_loss`: the clipped value loss (PPO's critic);
- `group_advantages`: GRPO (mean/std within the group) and RLOO (leave-one-out mean) advantages;
- `ppo_advantages`: PPO's token rewards (KL penalty, the score at the last token), then GAE;
- `explained_variance`: how much of the returns the critic explains;
- `AdaptiveKLController`: the KL coefficient that tracks a target KL (Ziegler et al.).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

KLEstimator = Literal["k1", "k3"]


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean over the positions where ``mask`` is 1 (over all of them, or along ``dim``)."""
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(values - mean) / std over the real tokens; ``shift_mean=False`` keeps the mean (for rewards)."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    return (whitened if shift_mean else whitened + mean) * mask


def kl_penalty(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: KLEstimator = "k1"
) -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) at the sampled tokens.

    k1 = log p - log q (unbiased, can be negative per token); k3 = (r - 1) - log r with
    r = q / p (unbiased, always >= 0, lower variance), as in Schulman's note and GRPO.
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    return torch.expm1(-log_ratio) + log_ratio


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) by GAE over each response; positions after a response's end are masked.

    delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lam A_{t+1}, returns = A + V.
    """
    values = values * mask
    rewards = rewards * mask
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = (delta + gamma * lam * last) * mask[:, t]
        advantages[:, t] = last
    return advantages, (advantages + values) * mask


@dataclass(frozen=True)
class PolicyLossStats:
    """The loss and the numbers that show whether an update is healthy."""

    loss: torch.Tensor
    clip_fraction: float
    approx_kl: float


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> PolicyLossStats:
    """The clipped surrogate: mean over tokens of max(-A r, -A clip(r, 1 - eps, 1 + eps))."""
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clip_fraction = masked_mean((clipped > unclipped).float(), mask).item()
        approx_kl = masked_mean((ratio - 1) - log_ratio, mask).item()  # k3 of old vs new
    return PolicyLossStats(loss, clip_fraction, approx_kl)


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, float]:
    """(0.5 * mean of max(unclipped, clipped) squared error, share of tokens where the clip bound)."""
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped = (values - returns) ** 2
    clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        fraction = masked_mean((clipped > unclipped).float(), mask).item()
    return loss, fraction


def group_advantages(rewards: torch.Tensor, group_size: int, kind: Literal["grpo", "rloo"]) -> torch.Tensor:
    """Per-sequence advantages of rewards laid out group after group (k consecutive samples per prompt).

    GRPO: (r - mean of the group) / (std of the group + 1e-4); RLOO: r - mean of the other k-1.
    """
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.view(-1, group_size)
    if kind == "grpo":
        mean = grouped.mean(dim=1, keepdim=True)
        std = grouped.std(dim=1, keepdim=True, unbiased=True) if group_size > 1 else torch.zeros_like(mean)
        return ((grouped - mean) / (std + 1e-4)).view(-1)
    if group_size < 2:
        raise ValueError("RLOO needs at least 2 samples per prompt")
    others = (grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)
    return (grouped - others).view(-1)


def ppo_advantages(
    scores: torch.Tensor,
    kl: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    *,
    gamma: float,
    lam: float,
    whiten_rewards: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(whitened advantages, returns): token rewards -kl_coef * KL per token with each rationale's score
    added at its last token (the scores whitened over the batch first with ``whiten_rewards``), then GAE."""
    if whiten_rewards and scores.numel() > 1:
        scores = (scores - scores.mean()) / (scores.std() + 1e-8)
    rewards = -kl_coef * kl
    last = (mask.sum(dim=1) - 1).clamp(min=0).long()
    rewards[torch.arange(rewards.shape[0]), last] += scores
    advantages, returns = gae(rewards, values.detach(), mask, gamma, lam)
    return masked_whiten(advantages, mask), returns


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) over real tokens (1: a perfect critic, <= 0: useless)."""
    var_returns = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    residual = returns - values
    var_residual = masked_mean((residual - masked_mean(residual, mask)) ** 2, mask)
    return (1 - var_residual / var_returns).item() if var_returns > 0 else float("nan")


class AdaptiveKLController:
    """The KL coefficient: fixed, or moved towards ``target`` KL with a proportional controller."""

    def __init__(self, coef: float, target: float | None = None, horizon: int = 10000) -> None:
        self.value = coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        """After a batch of ``n_steps`` samples whose mean KL was ``current_kl``."""
        if self.target is None:
            return
        error = max(-0.2, min(0.2, current_kl / self.target - 1))
        self.value *= 1 + error * n_steps / self.horizon
