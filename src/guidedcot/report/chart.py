"""chart.png: EM and F1 per method, grouped by dataset, with 95% CI error bars."""

from __future__ import annotations

from pathlib import Path

from guidedcot.evaluate.summary import Summary


def render_chart(summary: Summary, path: Path) -> Path:
    """Write the chart as a PNG at ``path`` and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary.overall()
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    by_key = {(r.dataset, r.method): r for r in rows}
    figure, axes = plt.subplots(
        1, 2, figsize=(5 + 1.6 * len(datasets) * max(1, len(methods)) / 2, 4), sharey=True
    )
    width = 0.8 / max(1, len(methods))
    for axis, metric in zip(axes, ("em", "f1"), strict=True):
        for m_index, method in enumerate(methods):
            xs, values, errors_low, errors_high = [], [], [], []
            for d_index, dataset in enumerate(datasets):
                row = by_key.get((dataset, method))
                if row is None:
                    continue
                value = 100 * getattr(row, metric)
                xs.append(d_index + (m_index - (len(methods) - 1) / 2) * width)
                values.append(value)
                errors_low.append(value - 100 * getattr(row, f"{metric}_low"))
                errors_high.append(100 * getattr(row, f"{metric}_high") - value)
            axis.bar(xs, values, width, yerr=[errors_low, errors_high], capsize=3, label=method)
        axis.set_xticks(range(len(datasets)), datasets)
        axis.set_title(metric.upper())
        axis.set_ylim(0, 100)
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("% of questions (95% bootstrap CI)")
    axes[1].legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
