"""The PNG of an RL run's training curves, drawn from its metrics.jsonl."""

from __future__ import annotations

from pathlib import Path

from guidedcot import jsonl

CURVES = (
    ("reward_mean", "reward (mean)"),
    ("kl", "KL to the reference (per rationale)"),
    ("entropy", "entropy (per token)"),
    ("rationale_tokens", "rationale tokens"),
)


SMOOTHING = 4


def running_mean(values: list[float], window: int) -> list[float]:
    """The mean of each value and the ``window - 1`` before it (fewer at the start)."""
    return [
        sum(values[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1))
        for i in range(len(values))
    ]


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL log."""
    return [record for _, record in jsonl.read_objects(path, tolerate_cut_end=True)]


def plot_curves(metrics: Path, png: Path, *, probe: Path | None = None) -> None:
    """Reward, KL, entropy and rationale length per step (and the dev EM where it was measured); with
    ``probe`` (probe.jsonl), the fixed probe's reward on the reward panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_jsonl(metrics)
    probes = read_jsonl(probe) if probe is not None and probe.exists() else []
    figure, axes = plt.subplots(1, len(CURVES) + 1, figsize=(4 * (len(CURVES) + 1), 3.2))
    steps = [r["step"] for r in records]
    for axis, (key, title) in zip(axes, CURVES, strict=False):
        values = [r.get(key, float("nan")) for r in records]
        axis.plot(steps, values, marker=".", label="per step")
        if key == "reward_mean" and len(values) >= 2 * SMOOTHING:  # a step's few rationales are noisy
            axis.plot(steps, running_mean(values, SMOOTHING), label=f"mean of the last {SMOOTHING} steps")
        if key == "reward_mean" and probes:
            axis.plot(
                [r["step"] for r in probes], [r["probe_reward_mean"] for r in probes], marker="s",
                label="fixed probe (the same questions)",
            )  # fmt: skip
        if key == "reward_mean" and (probes or len(values) >= 2 * SMOOTHING):
            axis.legend(fontsize=7)
        axis.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("step")
    evaluated = [r for r in records if "eval_em" in r]
    axes[-1].set_title("reader EM on held-out questions", fontsize=9)
    axes[-1].set_xlabel("step")
    if evaluated:
        axes[-1].plot([r["step"] for r in evaluated], [r["eval_em"] for r in evaluated], marker="o")
    else:  # an empty axis would read as a measured zero
        axes[-1].text(
            0.5,
            0.5,
            "not measured\n(eval_every or eval_limit 0)",
            ha="center",
            va="center",
            transform=axes[-1].transAxes,
        )
        axes[-1].set_xticks([])
        axes[-1].set_yticks([])
    figure.tight_layout()
    figure.savefig(png, dpi=100)
    plt.close(figure)
