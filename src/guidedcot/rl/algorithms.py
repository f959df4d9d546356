"""The RL algorithms as objects: what each decides in a step, the rest of the loop being shared.

An algorithm says whether the policy carries a value head, turns a step's rewards into token
advantages (and returns, for a critic), and adds its own term to the clipped surrogate loss:

- `PPO` (the paper's): a critic; token rewards -kl_coef x KL with each rationale's score at its last
  token, GAE, whitened advantages; the clipped value loss.
- `GroupRelative` (GRPO, RLOO): no critic; each rationale's advantage against the others of its
  question's group, on every token; the k3 KL to the reference as a loss term (as TRL's GRPO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import torch

from guidedcot.rl.config import Algo, RLConfig
from guidedcot.rl.core import group_advantages, kl_penalty, masked_mean, ppo_advantages, value_loss


class Algorithm(Protocol):
    """What differs between algorithms; `train_rl` and `update` call only this."""

    value_head: ClassVar[bool]  # whether the policy carries a critic

    def advantages(
        self,
        scores: torch.Tensor,
        kl: torch.Tensor,
        values: torch.Tensor | None,
        mask: torch.Tensor,
        kl_coef: float,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(token advantages [rows, tokens], returns or None) of sequence ``scores`` [rows]."""
        ...

    def loss_term(
        self, logp: torch.Tensor, ref_logp: torch.Tensor, values: torch.Tensor | None,
        old_values: torch.Tensor | None, returns: torch.Tensor | None, mask: torch.Tensor, kl_coef: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        """The term added to a minibatch's clipped surrogate, and what to log of it."""
        ...


@dataclass(frozen=True)
class PPO:
    """PPO with a value head: KL-shaped token rewards, GAE, the clipped value loss."""

    gamma: float
    lam: float
    whiten_rewards: bool
    value_coef: float
    value_clip_range: float
    value_head: ClassVar[bool] = True

    def advantages(
        self,
        scores: torch.Tensor,
        kl: torch.Tensor,
        values: torch.Tensor | None,
        mask: torch.Tensor,
        kl_coef: float,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert values is not None, "PPO needs the critic's values"
        return ppo_advantages(
            scores,
            kl,
            values,
            mask,
            kl_coef,
            gamma=self.gamma,
            lam=self.lam,
            whiten_rewards=self.whiten_rewards,
        )

    def loss_term(
        self, logp: torch.Tensor, ref_logp: torch.Tensor, values: torch.Tensor | None,
        old_values: torch.Tensor | None, returns: torch.Tensor | None, mask: torch.Tensor, kl_coef: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        assert values is not None and old_values is not None and returns is not None
        loss, clipped = value_loss(values, old_values, returns, mask, self.value_clip_range)
        return self.value_coef * loss, {"value_loss": loss.item(), "value_clip_fraction": clipped}


@dataclass(frozen=True)
class GroupRelative:
    """GRPO or RLOO: advantages within each question's group of ``group_size`` rationales, no critic."""

    kind: Literal["grpo", "rloo"]
    group_size: int
    value_head: ClassVar[bool] = False

    def advantages(
        self,
        scores: torch.Tensor,
        kl: torch.Tensor,
        values: torch.Tensor | None,
        mask: torch.Tensor,
        kl_coef: float,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return group_advantages(scores, self.group_size, self.kind)[:, None] * mask, None

    def loss_term(
        self, logp: torch.Tensor, ref_logp: torch.Tensor, values: torch.Tensor | None,
        old_values: torch.Tensor | None, returns: torch.Tensor | None, mask: torch.Tensor, kl_coef: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        return kl_coef * masked_mean(kl_penalty(logp, ref_logp, "k3"), mask), {}


def algorithm_for(config: RLConfig) -> Algorithm:
    """The algorithm ``config.algo`` names, with its settings."""
    if config.algo == Algo.PPO:
        return PPO(
            config.gamma, config.lam, config.whiten_rewards, config.value_coef, config.value_clip_range
        )
    kind: Literal["grpo", "rloo"] = "grpo" if config.algo == Algo.GRPO else "rloo"
    return GroupRelative(kind, config.group_size)
