"""`evaluate_to_folder` end to end on the real dev files with scripted models: folder, scores, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidedcot.config import load_config
from guidedcot.data.selection import select_examples
from guidedcot.evaluate import EvaluateConfig
from guidedcot.evaluate.stats import bootstrap_ci
from guidedcot.llm import CachedLanguageModel, FakeLanguageModel, GenerationCache, GenerationRequest
from guidedcot.llm.fake import request_text
from guidedcot.report import evaluate_to_folder


def gold_reader(shared_data: Path) -> FakeLanguageModel:
    """Answers the gold answer for standard and cot prompts, a wrong one for guided prompts."""
    golds = {}
    for name in ("hotpotqa", "2wiki"):
        for example in select_examples(name, shared_data, split="dev", limit=None).examples:
            golds[example.question] = example.answer

    def answer(request: GenerationRequest) -> str:
        text = request_text(request)
        question = text.split("Question: ", 1)[1].split("\n", 1)[0]
        if "Rationale:" in text:
            return "certainly not this"
        if "step by step" in text:
            return f"Reasoning: the context says {golds[question]}.\nPrediction: {golds[question]}"
        return golds[question]

    return FakeLanguageModel(answer, name="gold-reader")


def config(tmp_path: Path, **changes: object) -> EvaluateConfig:
    settings = load_config(
        EvaluateConfig, overrides=["limit=5", "bootstrap_samples=200", "questions_per_step=2"]
    )
    for key, value in changes.items():
        setattr(settings, key, value)
    settings.out = str(tmp_path / "run")
    return settings


def test_run_folder_scores_and_reports(shared_data: Path, tmp_path: Path) -> None:
    reader = CachedLanguageModel(gold_reader(shared_data))
    student = CachedLanguageModel(FakeLanguageModel(lambda r: "A rationale that names nothing."))
    result = evaluate_to_folder(
        config(tmp_path), reader=reader, student=student, out_dir=tmp_path / "run", data_dir=shared_data
    )
    out = tmp_path / "run"
    assert {p.name for p in out.iterdir()} >= {
        "config.yaml",
        "predictions.jsonl",
        "metrics.json",
        "report.md",
        "report.html",
        "chart.png",
    }
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * 5 * 3  # datasets x limit x methods
    first = lines[0]
    for key in (
        "id",
        "type",
        "question",
        "gold",
        "rationale",
        "reader_output",
        "answer",
        "em",
        "f1",
        "reader_prompt_tokens",
        "reader_completion_tokens",
    ):
        assert key in first
    by_method = {(r.dataset, r.method): r for r in result.summary.overall()}
    for dataset in ("hotpotqa", "2wiki"):
        assert by_method[(dataset, "standard")].em == 1.0
        assert by_method[(dataset, "cot")].em == 1.0
        assert by_method[(dataset, "guided")].em == 0.0
        assert by_method[(dataset, "standard")].n == 5
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["usage"]["reader"]["calls"] == 30
    assert {d["method"] for d in metrics["diagnostics"]} == {"standard", "cot", "guided"}
    cot = next(d for d in metrics["diagnostics"] if d["method"] == "cot" and d["dataset"] == "hotpotqa")
    assert cot["rationale_contains_gold"] == 1.0  # the scripted reasoning names the answer
    report = (out / "report.md").read_text()
    assert "| hotpotqa | standard | **all** | 5 | 100.0 |" in report
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "limit: 5" in (out / "config.yaml").read_text()


class Interrupted(RuntimeError):
    pass


def test_an_interrupted_evaluation_resumes_without_recomputing(shared_data: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    inner = gold_reader(shared_data)
    budget = {"calls": 13}

    def dying(request: GenerationRequest) -> str:
        budget["calls"] -= 1
        if budget["calls"] < 0:
            raise Interrupted("killed")
        return inner._answer(request)

    settings = config(tmp_path, methods=["standard", "cot"])
    first = CachedLanguageModel(
        FakeLanguageModel(dying, name="gold-reader"), GenerationCache(cache), chunk_size=2
    )
    with pytest.raises(Interrupted):
        evaluate_to_folder(
            settings, reader=first, student=None, out_dir=tmp_path / "run", data_dir=shared_data
        )
    finished = len(GenerationCache(cache))
    assert 0 < finished <= 13

    second_backend = gold_reader(shared_data)
    second = CachedLanguageModel(second_backend, GenerationCache(cache), chunk_size=2)
    result = evaluate_to_folder(
        settings, reader=second, student=None, out_dir=tmp_path / "run", data_dir=shared_data
    )
    assert len(result.records) == 20
    assert len(second_backend.requests) == 20 - finished  # nothing finished was recomputed
    assert second.usage.cache_hits == finished


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible() -> None:
    values = [1.0] * 30 + [0.0] * 70
    low, high = bootstrap_ci(values, samples=2000, seed=3)
    assert low < 0.3 < high and low > 0.15 and high < 0.45
    assert bootstrap_ci(values, samples=2000, seed=3) == (low, high)
    assert bootstrap_ci([1.0], samples=10) == (1.0, 1.0)


def test_dataset_selection_dedups_ids_across_files_and_names_bad_specs(shared_data: Path) -> None:
    hotpot = select_examples("hotpotqa", shared_data, split="dev", limit=None)
    assert len({e.id for e in hotpot.examples}) == len(hotpot.examples)
    assert hotpot.files[0].name == "hotpot_dev_distractor_103.json"
    path = shared_data / "2wikimultihopqa" / "2wiki_dev_sample9.json"
    assert select_examples(str(path), None, split="dev", limit=3).name == "2wiki"
    from guidedcot.errors import GuidedCotError

    with pytest.raises(GuidedCotError, match="neither hotpotqa nor 2wiki nor an existing file"):
        select_examples("nope.json", shared_data, split="dev", limit=None)


def test_aspects_are_judged_per_rationale_and_reported_with_cis(shared_data: Path, tmp_path: Path) -> None:
    golds = gold_reader(shared_data)

    def probabilities(request: GenerationRequest) -> dict[str, float]:
        # the reader's own reasoning names the gold answer: rated higher than the student's
        text = request_text(request)
        return {"yes": 0.9, "no": 0.1} if "the context says" in text else {"yes": 0.2, "no": 0.8}

    reader = CachedLanguageModel(FakeLanguageModel(golds._answer, name="judge", choices=probabilities))
    student = CachedLanguageModel(FakeLanguageModel(lambda r: "A rationale that names nothing."))
    settings = config(tmp_path, aspects=True, datasets=["hotpotqa"])
    settings.judge.aspects = ["fluency", "factuality"]
    result = evaluate_to_folder(
        settings, reader=reader, student=student, out_dir=tmp_path / "run", data_dir=shared_data
    )
    rows = {(a.method, a.aspect): a for a in result.summary.aspects}
    assert rows[("cot", "fluency")].mean == pytest.approx(0.9)
    assert rows[("guided", "R_aspect")].mean == pytest.approx(0.4) and rows[("guided", "R_aspect")].n == 5
    assert ("standard", "fluency") not in rows  # standard prompting writes no rationale
    by_id = [r for r in result.records if r.method == "guided"]
    assert by_id[0].aspects == pytest.approx({"fluency": 0.2, "factuality": 0.2})
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {a["aspect"] for a in metrics["aspects"]} == {"fluency", "factuality", "R_aspect"}
    assert "first-token log-probabilities" in metrics["facts"]["judge"]
    assert metrics["prompt_versions"]["fluency"].startswith("judge-fluency-v1-")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Rationale quality" in report
    assert "| hotpotqa | cot | 5 | 0.90 [0.90, 0.90] | 0.90 [0.90, 0.90] | 1.80 [1.80, 1.80] |" in report
    assert 'id="aspects"' in (tmp_path / "run" / "report.html").read_text()


def test_contexts_cut_by_the_budget_are_counted_in_metrics_and_report(
    shared_data: Path, tmp_path: Path
) -> None:
    """The README promises that the report counts truncated contexts: per dataset, the questions cut
    and the tokens cut, by the budget's own counter (here: words)."""
    reader = CachedLanguageModel(gold_reader(shared_data))

    def words(text: str) -> int:
        return len(text.split())

    settings = config(tmp_path, methods=["standard"], context_mode="distractor", max_context_tokens=150)
    evaluate_to_folder(
        settings,
        reader=reader,
        student=None,
        out_dir=tmp_path / "run",
        data_dir=shared_data,
        count_tokens=words,
    )
    from guidedcot.data.context import build_context

    expected = {}
    for name in ("hotpotqa", "2wiki"):
        examples = select_examples(name, shared_data, split="dev", limit=5).examples
        built = [build_context(e, "distractor", max_tokens=150, count_tokens=words) for e in examples]
        full = [words(build_context(e, "distractor").text) for e in examples]
        cut = [f - b.tokens for f, b in zip(full, built, strict=True) if b.truncation.truncated]
        expected[name] = {"questions": 5, "truncated": len(cut), "tokens_cut": sum(cut)}
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["truncation"] == expected
    assert all(v["truncated"] > 0 for v in expected.values())  # distractor contexts run past 150 words
    report = (tmp_path / "run" / "report.md").read_text()
    described = f"hotpotqa: {expected['hotpotqa']['truncated']} of 5 questions, {expected['hotpotqa']['tokens_cut']} tokens cut"
    assert f"- **truncated contexts**: {described}; 2wiki:" in report
