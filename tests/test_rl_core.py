"""The RL math on hand-computed examples (table-driven, fast)."""

from __future__ import annotations

import math

import pytest
import torch

from guidedcot.rl.core import (
    AdaptiveKLController,
    gae,
    group_advantages,
    kl_penalty,
    masked_mean,
    masked_whiten,
    policy_loss,
    value_loss,
)


def t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_masked_mean_ignores_padding() -> None:
    assert masked_mean(t([1.0, 2.0, 100.0]), t([1.0, 1.0, 0.0])).item() == pytest.approx(1.5)
    per_row = masked_mean(t([1.0, 3.0], [2.0, 9.0]), t([1.0, 1.0], [1.0, 0.0]), dim=1)
    assert per_row.tolist() == pytest.approx([2.0, 2.0])


def test_masked_whiten_has_zero_mean_unit_variance_on_real_tokens() -> None:
    values, mask = t([1.0, 2.0, 3.0, 50.0]), t([1.0, 1.0, 1.0, 0.0])
    white = masked_whiten(values, mask)
    assert white.tolist()[0] == pytest.approx([-math.sqrt(1.5), 0.0, math.sqrt(1.5), 0.0], rel=1e-6)
    kept = masked_whiten(values, mask, shift_mean=False)
    assert masked_mean(kept, mask).item() == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        ("k1", [math.log(0.5) - math.log(0.25), 0.0]),
        # k3 = (q/p - 1) - log(q/p) with q/p = 0.25 / 0.5 = 0.5
        ("k3", [(0.5 - 1) - math.log(0.5), 0.0]),
    ],
)
def test_kl_estimators(estimator: str, expected: list[float]) -> None:
    logp = torch.log(t([0.5, 0.3]))
    ref = torch.log(t([0.25, 0.3]))
    assert kl_penalty(logp, ref, estimator).tolist()[0] == pytest.approx(expected)  # type: ignore[arg-type]


def test_gae_by_hand() -> None:
    # one response of 3 tokens (+1 padding), reward 1 at the end, gamma 1, lambda 0.5
    rewards, values, mask = t([0.0, 0.0, 1.0, 9.0]), t([0.5, 0.4, 0.8, 9.0]), t([1.0, 1.0, 1.0, 0.0])
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    d2 = 1.0 - 0.8  # last token: no next value
    d1 = 0.0 + 0.8 - 0.4
    d0 = 0.0 + 0.4 - 0.5
    a2, a1 = d2, d1 + 0.5 * d2
    a0 = d0 + 0.5 * a1
    assert advantages.tolist()[0] == pytest.approx([a0, a1, a2, 0.0])
    assert returns.tolist()[0] == pytest.approx([a0 + 0.5, a1 + 0.4, a2 + 0.8, 0.0])


def test_gae_with_gamma_and_lambda_one_is_reward_to_go_minus_value() -> None:
    rewards, values, mask = t([0.1, 0.2, 0.3]), t([0.0, 0.0, 0.0]), t([1.0, 1.0, 1.0])
    advantages, _ = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    assert advantages.tolist()[0] == pytest.approx([0.6, 0.5, 0.3])


def test_policy_loss_clips_and_reports() -> None:
    # token 0: ratio 1.5 with A = +1 -> clipped at 1.2; token 1: ratio 0.5 with A = +1 -> not clipped
    old = torch.log(t([0.2, 0.4]))
    new = torch.log(t([0.3, 0.2]))
    stats = policy_loss(new, old, t([1.0, 1.0]), t([1.0, 1.0]), clip_range=0.2)
    assert stats.loss.item() == pytest.approx(-(1.2 + 0.5) / 2)
    assert stats.clip_fraction == pytest.approx(0.5)
    expected_kl = ((1.5 - 1) - math.log(1.5) + (0.5 - 1) - math.log(0.5)) / 2
    assert stats.approx_kl == pytest.approx(expected_kl)


def test_policy_loss_negative_advantage_clips_below() -> None:
    old, new = torch.log(t([0.4])), torch.log(t([0.2]))  # ratio 0.5, A = -1: max(0.5, 0.8) = 0.8
    assert policy_loss(new, old, t([-1.0]), t([1.0]), clip_range=0.2).loss.item() == pytest.approx(0.8)


def test_value_loss_clips_around_the_old_value() -> None:
    values, old, returns, mask = t([2.0, 0.1]), t([0.0, 0.0]), t([1.0, 0.0]), t([1.0, 1.0])
    loss, fraction = value_loss(values, old, returns, mask, clip_range=0.5)
    # token 0: unclipped (2-1)^2 = 1, clipped (0.5-1)^2 = 0.25 -> 1; token 1: 0.01 both
    assert loss.item() == pytest.approx(0.5 * (1.0 + 0.01) / 2)
    assert fraction == 0.0
    loss, fraction = value_loss(t([0.6]), t([0.0]), t([2.0]), t([1.0]), clip_range=0.5)
    assert loss.item() == pytest.approx(0.5 * (0.5 - 2.0) ** 2) and fraction == 1.0


STD3 = math.sqrt(1 / 3) + 1e-4  # sample std of [1, 0, 0], plus GRPO's epsilon


@pytest.mark.parametrize(
    ("kind", "rewards", "k", "expected"),
    [
        ("rloo", [1.0, 0.0, 0.0, 2.0, 2.0, 2.0], 3, [1.0, -0.5, -0.5, 0.0, 0.0, 0.0]),
        ("rloo", [3.0, 1.0], 2, [2.0, -2.0]),
        # GRPO: (r - mean) / (sample std + 1e-4); group [1, 0, 0]: mean 1/3, std sqrt(1/3)
        (
            "grpo",
            [1.0, 0.0, 0.0],
            3,
            [(2 / 3) / STD3, (-1 / 3) / STD3, (-1 / 3) / STD3],
        ),
        ("grpo", [2.0, 2.0], 2, [0.0, 0.0]),
    ],
)
def test_group_advantages(kind: str, rewards: list[float], k: int, expected: list[float]) -> None:
    assert group_advantages(t(rewards)[0], k, kind).tolist() == pytest.approx(expected)  # type: ignore[arg-type]


def test_group_advantages_refuse_bad_shapes() -> None:
    with pytest.raises(ValueError, match="groups of 2"):
        group_advantages(t([1.0, 2.0, 3.0])[0], 2, "grpo")
    with pytest.raises(ValueError, match="at least 2"):
        group_advantages(t([1.0])[0], 1, "rloo")


def test_adaptive_kl_controller_moves_towards_the_target() -> None:
    fixed = AdaptiveKLController(0.05)
    fixed.update(1.0, 100)
    assert fixed.value == 0.05
    adaptive = AdaptiveKLController(0.1, target=0.01, horizon=100)
    adaptive.update(0.02, 10)  # KL twice the target: error clipped to +0.2
    assert adaptive.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    adaptive.update(0.005, 10)  # half the target: error -0.5 clipped to -0.2
    assert adaptive.value == pytest.approx(0.1 * 1.02 * 0.98)


def test_policy_log_probs_match_the_full_logits_on_padded_rows() -> None:
    """The policy computes the LM head on the response positions only; its log-probs, entropies and
    values equal those taken from the logits of every position (left-padded prompts, right-padded
    responses)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from guidedcot.rl.policy import PolicyModel, RolloutTensors

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
    policy = PolicyModel(LlamaForCausalLM(config), seq2seq=False, with_value_head=True).eval()
    prompt_mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    response_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    rollout = RolloutTensors(
        prompt_ids=torch.randint(1, 97, (2, 6)) * prompt_mask, prompt_mask=prompt_mask,
        response_ids=torch.randint(1, 97, (2, 4)) * response_mask, response_mask=response_mask,
    )  # fmt: skip
    with torch.no_grad():
        logprobs, entropy, values = policy(**rollout.as_kwargs())
        ids = torch.cat([rollout.prompt_ids, rollout.response_ids], dim=1)
        mask = torch.cat([prompt_mask, response_mask], dim=1)
        full = policy.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0),
                            output_hidden_states=True)  # fmt: skip
        expected = torch.log_softmax(full.logits[:, 5:9].float(), dim=-1)
        expected_values = policy.value_head(full.hidden_states[-1][:, 5:9])  # type: ignore[misc]
    assert logprobs.shape == (2, 4)
    torch.testing.assert_close(logprobs, expected.gather(-1, rollout.response_ids[..., None])[..., 0])
    torch.testing.assert_close(entropy, -(expected.exp() * expected).sum(-1))
    torch.testing.assert_close(values, expected_values)
