"""report.html: one self-contained page; the summary tables, the chart, and every example browsable
(question, context, rationale, reader output, prediction, gold, correct or not) with filters by
dataset, method and correctness. No external resources: it opens from disk, offline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from guidedcot.evaluate.records import PredictionRecord
from guidedcot.evaluate.summary import ALL_TYPES, TOTAL_ASPECT, Summary
from guidedcot.report.markdown import aspect_cell, pct

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1d2327; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #dde1e4; padding: 0.25rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.type td { color: #5b6770; font-size: 0.92em; }
.filters { position: sticky; top: 0; background: #fff; padding: 0.6rem 0; border-bottom: 1px solid #dde1e4; z-index: 1; }
.filters label { margin-right: 1rem; }
article { border: 1px solid #dde1e4; border-left: 5px solid #b42318; border-radius: 4px; margin: 0.6rem 0; padding: 0.5rem 0.8rem; }
article.correct { border-left-color: #1a7f37; }
article h3 { font-size: 1rem; margin: 0.2rem 0; }
.badge { font-size: 0.8em; padding: 0.05rem 0.4rem; border-radius: 3px; background: #eef1f3; margin-right: 0.3rem; }
.ok { background: #dafbe1; } .wrong { background: #ffebe9; }
pre { white-space: pre-wrap; background: #f6f8fa; padding: 0.4rem; margin: 0.2rem 0; }
dt { font-weight: 600; margin-top: 0.3rem; }
img { max-width: 100%; }
"""

_SCRIPT = """
(function () {
  const controls = ["dataset", "method", "correct"].map(function (name) {
    return document.getElementById("filter-" + name);
  });
  const examples = Array.from(document.querySelectorAll("article.example"));
  const counter = document.getElementById("shown");
  function apply() {
    let shown = 0;
    for (const example of examples) {
      const visible = controls.every(function (control) {
        return control.value === "" || example.dataset[control.name] === control.value;
      });
      example.hidden = !visible;
      if (visible) { shown += 1; }
    }
    counter.textContent = String(shown);
  }
  for (const control of controls) { control.addEventListener("change", apply); }
  apply();
})();
"""


def _select(name: str, label: str, options: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<option value="{escape(v)}">{escape(text)}</option>' for v, text in options)
    return f'<label>{label} <select id="filter-{name}" name="{name}"><option value="">all</option>{items}</select></label>'


def _score_table(summary: Summary) -> str:
    head = (
        "<tr><th>dataset</th><th>method</th><th>type</th><th>n</th><th>EM %</th><th>EM 95% CI</th>"
        "<th>F1 %</th><th>F1 95% CI</th></tr>"
    )
    body = []
    for row in summary.scores:
        css = "" if row.type == ALL_TYPES else ' class="type"'
        body.append(
            f"<tr{css}><td>{escape(row.dataset)}</td><td>{escape(row.method)}</td><td>{escape(row.type)}</td>"
            f'<td class="num">{row.n}</td><td class="num">{pct(row.em)}</td>'
            f'<td>[{pct(row.em_low)}, {pct(row.em_high)}]</td><td class="num">{pct(row.f1)}</td>'
            f"<td>[{pct(row.f1_low)}, {pct(row.f1_high)}]</td></tr>"
        )
    return f'<table id="summary"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def _diagnostics_table(summary: Summary) -> str:
    head = (
        "<tr><th>dataset</th><th>method</th><th>n</th><th>rationale words</th><th>gold in rationale %</th>"
        "<th>reader prompt tokens / q</th><th>reader completion tokens / q</th><th>student tokens / q</th>"
        "<th>reader s / q</th><th>student s / q</th>"
        "<th>no Prediction line %</th><th>cache hits %</th></tr>"
    )
    body = []
    for d in summary.diagnostics:
        words = "–" if d.mean_rationale_words is None else f"{d.mean_rationale_words:.1f}"
        cells = [
            escape(d.dataset),
            escape(d.method),
            str(d.n),
            words,
            pct(d.rationale_contains_gold),
            f"{d.reader_prompt_tokens:.0f}",
            f"{d.reader_completion_tokens:.1f}",
            f"{d.student_tokens:.0f}",
            f"{d.reader_seconds:.2f}",
            f"{d.student_seconds:.2f}",
            pct(d.missing_prediction),
            pct(d.cache_hit_rate),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table id="diagnostics"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def _aspect_table(summary: Summary) -> str:
    """Mean judge score per aspect with its CI, one row per dataset x method ('' when not judged)."""
    if not summary.aspects:
        return ""
    names = summary.aspect_names()
    cells = {(a.dataset, a.method, a.aspect): a for a in summary.aspects}
    head = "<tr><th>dataset</th><th>method</th><th>n</th>" + "".join(f"<th>{escape(n)}</th>" for n in names)
    body = []
    for dataset, method in dict.fromkeys((a.dataset, a.method) for a in summary.aspects):
        n = cells[(dataset, method, TOTAL_ASPECT)].n
        row = "".join(f"<td>{aspect_cell(cells[(dataset, method, name)])}</td>" for name in names)
        body.append(f"<tr><td>{escape(dataset)}</td><td>{escape(method)}</td><td>{n}</td>{row}</tr>")
    return (
        "<h2>Rationale quality</h2><p>Judge score per aspect in [0, 1], mean over the judged rationales, "
        f"with 95% bootstrap CIs; {TOTAL_ASPECT} is their weighted sum.</p>"
        f'<table id="aspects"><thead>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _example(index: int, record: PredictionRecord) -> str:
    correct = record.em == 1.0
    verdict = '<span class="badge ok">correct</span>' if correct else '<span class="badge wrong">wrong</span>'
    parts = [
        f'<article class="example{" correct" if correct else ""}" id="ex-{index}" '
        f'data-dataset="{escape(record.dataset)}" data-method="{escape(record.method)}" '
        f'data-correct="{"correct" if correct else "wrong"}">',
        f'<h3>{verdict}<span class="badge">{escape(record.dataset)}</span>'
        f'<span class="badge">{escape(record.method)}</span><span class="badge">{escape(record.type)}</span>'
        f"{escape(record.question)}</h3>",
        "<dl>",
        f'<dt>Prediction</dt><dd class="prediction">{escape(record.answer) or "<em>(empty)</em>"}'
        f" &nbsp; EM {record.em:.0f} · F1 {record.f1:.2f}</dd>",
        f'<dt>Gold</dt><dd class="gold">{escape(" | ".join(record.gold))}</dd>',
    ]
    if record.rationale is not None:
        parts.append(f"<dt>Rationale</dt><dd><pre>{escape(record.rationale)}</pre></dd>")
    if record.aspects is not None:
        judged = ", ".join(f"{escape(a)} {v:.2f}" for a, v in record.aspects.items())
        parts.append(f"<dt>Aspects</dt><dd>{judged} · {TOTAL_ASPECT} {record.aspect_total:.2f}</dd>")
    parts.append(f"<dt>Reader output</dt><dd><pre>{escape(record.reader_output)}</pre></dd>")
    if record.samples:
        votes = ", ".join(escape(s["answer"]) or "(empty)" for s in record.samples)
        parts.append(f"<dt>Self-consistency votes</dt><dd>{votes}</dd>")
    parts.append(
        f"<dt>Context</dt><dd><details><summary>show</summary><pre>{escape(record.context)}</pre></details></dd>"
    )
    parts.append("</dl></article>")
    return "".join(parts)


def render_html(
    summary: Summary,
    records: Sequence[PredictionRecord],
    *,
    title: str,
    facts: Mapping[str, Any],
    chart: str | None,
) -> str:
    """The whole page as one HTML string."""
    datasets = list(dict.fromkeys(r.dataset for r in records))
    methods = list(dict.fromkeys(r.method for r in records))
    filters = (
        '<div class="filters">'
        + _select("dataset", "Dataset", [(d, d) for d in datasets])
        + _select("method", "Method", [(m, m) for m in methods])
        + _select("correct", "Answer", [("correct", "correct"), ("wrong", "wrong")])
        + f'<span>showing <strong id="shown">{len(records)}</strong> of {len(records)}</span></div>'
    )
    fact_items = "".join(
        f"<li><strong>{escape(str(k))}</strong>: {escape(str(v))}</li>" for k, v in facts.items()
    )
    chart_html = f'<img src="{escape(chart)}" alt="EM and F1 per method with 95% CIs">' if chart else ""
    examples = "".join(_example(i, r) for i, r in enumerate(records))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="data:,"><style>{_STYLE}</style></head><body>'
        f"<h1>{escape(title)}</h1><ul>{fact_items}</ul>"
        "<h2>Answer accuracy</h2><p>EM and F1 in %, mean over questions, with 95% bootstrap confidence intervals.</p>"
        f"{_score_table(summary)}{chart_html}<h2>Diagnostics</h2>{_diagnostics_table(summary)}{_aspect_table(summary)}"
        f'<h2>Examples</h2>{filters}<div id="examples">{examples}</div>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
