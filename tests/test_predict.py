"""`guidedcot predict` and `guidedcot score`: official submission files for questions without labels,
read back and scored exactly as `evaluate` scores, on the real dev and blind files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from guidedcot.config import load_config
from guidedcot.data.selection import select_examples
from guidedcot.errors import DataError, GuidedCotError
from guidedcot.evaluate import EvaluateConfig
from guidedcot.evaluate.paired import read_predictions
from guidedcot.llm import CachedLanguageModel, FakeLanguageModel, GenerationRequest
from guidedcot.llm.fake import request_text
from guidedcot.predict import predict_to_folder, read_submission, score_submission
from guidedcot.report import evaluate_to_folder

BLIND = Path(__file__).resolve().parents[1] / ".." / "shared" / "blind"
SPECS = ["hotpotqa:dev[0:6]", "2wiki:dev[0:6]"]


def half_right_reader(shared_data: Path) -> FakeLanguageModel:
    """Gold answers for even-indexed dev questions, a near miss (F1 between 0 and 1) for odd ones."""
    golds = {}
    for name in ("hotpotqa", "2wiki"):
        for index, example in enumerate(select_examples(name, shared_data, split="dev", limit=None).examples):
            golds[example.question] = (index, example.answer)

    def answer(request: GenerationRequest) -> str:
        question = request_text(request).split("Question: ", 1)[1].split("\n", 1)[0]
        index, gold = golds.get(question, (1, "unknown"))
        text = gold if index % 2 == 0 else f"perhaps {gold} or not"
        return f"Reasoning: so.\nPrediction: {text}" if "step by step" in request_text(request) else text

    return FakeLanguageModel(answer, name="half-right")


def settings(tmp_path: Path, *overrides: str) -> EvaluateConfig:
    config = load_config(EvaluateConfig, overrides=["bootstrap_samples=200", "methods=[standard,cot,guided]",
                                                     *overrides])  # fmt: skip
    config.datasets = list(SPECS)
    return config


def models(shared_data: Path) -> tuple[CachedLanguageModel, CachedLanguageModel]:
    student = FakeLanguageModel(lambda r: "The context names it.", name="student")
    return CachedLanguageModel(half_right_reader(shared_data)), CachedLanguageModel(student)


def test_predict_then_score_equals_evaluate_question_by_question(shared_data: Path, tmp_path: Path) -> None:
    reader, student = models(shared_data)
    evaluated = evaluate_to_folder(settings(tmp_path), reader=reader, student=student,
                                   out_dir=tmp_path / "eval", data_dir=shared_data)  # fmt: skip
    predicted = predict_to_folder(settings(tmp_path), reader=reader, student=student,
                                  out_dir=tmp_path / "pred", data_dir=shared_data)  # fmt: skip
    assert set(predicted.submissions) == {
        (d, m) for d in ("hotpotqa", "2wiki") for m in ("standard", "cot", "guided")
    }
    by_key = {(r.dataset, r.method, r.id): r for r in evaluated.records}
    assert {0.0, 1.0} <= {r.em for r in evaluated.records} and any(
        0 < (r.f1 or 0) < 1 for r in evaluated.records
    )
    for spec, dataset in zip(SPECS, ("hotpotqa", "2wiki"), strict=True):
        selection = select_examples(spec, shared_data, split="dev", limit=None)
        for method in ("standard", "cot", "guided"):
            for folder in (tmp_path / "pred", tmp_path / "eval"):  # predict's files and evaluate's export
                submission = read_submission(folder / dataset / method / "predictions.json")
                scored = score_submission(submission, selection, method=method)
                assert len(scored) == 6
                for record in scored:
                    expected = by_key[(dataset, method, record.id)]
                    assert (record.em, record.f1, record.answer) == (
                        expected.em,
                        expected.f1,
                        expected.answer,
                    )
    # predict's records carry the costs and rationales, not scores: its questions may have no labels
    lines = read_predictions(tmp_path / "pred" / "hotpotqa" / "guided" / "predictions.jsonl")
    assert len(lines) == 6 and all(r.rationale == "The context names it." for r in lines)
    run = json.loads((tmp_path / "pred" / "run.json").read_text())
    assert run["reader"] == reader.identity and run["student"] == student.identity
    assert set(run["prompt_versions"]) == {"standard", "cot", "student", "guided"}
    assert run["datasets"]["2wiki"]["questions"] == 6
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", run["commit"])  # the checkout that produced the files
    assert "methods:" in (tmp_path / "pred" / "config.yaml").read_text()


@pytest.mark.parametrize(
    ("name", "keys"),
    [("hotpotqa_blind_gold", {"answer", "sp"}), ("2wiki_blind_gold", {"answer", "sp", "evidence"})],
)
def test_a_file_without_labels_gets_the_official_layout_with_every_id(
    shared_data: Path, tmp_path: Path, name: str, keys: set[str]
) -> None:
    reader, student = models(shared_data)
    config = settings(tmp_path, "context_mode=distractor", "limit=4", "methods=[standard,guided]")
    config.datasets = [str(BLIND / f"{name}.json")]
    result = predict_to_folder(
        config, reader=reader, student=student, out_dir=tmp_path / "out", data_dir=None
    )
    records = json.loads((BLIND / f"{name}.json").read_text())[:4]
    for method in ("standard", "guided"):
        written = json.loads(result.submissions[(name, method)].read_text())
        assert set(written) == keys
        for key in keys:
            assert set(written[key]) == {r["_id"] for r in records}, key
        assert all(isinstance(v, str) for v in written["answer"].values())
        assert all(v == [] for key in keys - {"answer"} for v in written[key].values())


def test_the_gold_context_of_a_file_without_supporting_facts_is_refused(
    shared_data: Path, tmp_path: Path
) -> None:
    reader, student = models(shared_data)
    config = settings(tmp_path, "context_mode=gold", "limit=2")
    config.datasets = [str(BLIND / "hotpotqa_blind_gold.json")]
    with pytest.raises(DataError, match=r"no supporting facts.*use context_mode=distractor"):
        predict_to_folder(config, reader=reader, student=student, out_dir=tmp_path / "out", data_dir=None)


def test_score_refuses_unlabelled_questions_and_unknown_ids(shared_data: Path, tmp_path: Path) -> None:
    from guidedcot.predict import write_submission

    blind = select_examples(str(BLIND / "2wiki_blind_gold.json"), None, split="dev", limit=3, labels=False)
    answers = {e.id: "yes" for e in blind.examples}
    path = write_submission(tmp_path / "blind.json", "2wiki", answers)
    with pytest.raises(GuidedCotError, match="field 'answer': no gold answer"):
        score_submission(read_submission(path), blind, method="x")
    with pytest.raises(DataError, match="needs gold answers"):
        select_examples(str(BLIND / "2wiki_blind_gold.json"), None, split="dev", limit=3)
    dev = select_examples("2wiki:dev[0:2]", shared_data, split="dev", limit=None)
    stray = write_submission(
        tmp_path / "stray.json", "2wiki", {**{e.id: "yes" for e in dev.examples}, "nope-1": "x"}
    )
    with pytest.raises(GuidedCotError, match="id 'nope-1' is not a question of 2wiki"):
        score_submission(read_submission(stray), dev, method="x")
    short = write_submission(tmp_path / "short.json", "2wiki", {dev.examples[0].id: "yes"})
    with pytest.raises(GuidedCotError, match="no answer for 1 of the 2"):
        score_submission(read_submission(short), dev, method="x")
    (tmp_path / "bad.json").write_text('{"answer": {"a": 3}}')
    with pytest.raises(GuidedCotError, match="'a' is int, not text"):
        read_submission(tmp_path / "bad.json")


def test_blind_files_are_recognised_by_dataset() -> None:
    for name, dataset in (("hotpotqa_blind_distractor", "hotpotqa"), ("2wiki_blind_distractor", "2wiki")):
        selection = select_examples(str(BLIND / f"{name}.json"), None, split="dev", limit=2, labels=False)
        assert selection.name == dataset and not any(e.labelled for e in selection.examples)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guidedcot.cli.app", *args], capture_output=True, text=True,
                          env=env, timeout=1200, check=False)  # fmt: skip


@pytest.mark.slow
def test_predict_runs_on_the_four_blind_files_and_score_round_trips_through_the_cli(
    shared_data: Path, tmp_path: Path
) -> None:
    """The command line end to end with real models (SmolLM2 as reader and as untrained student):
    standard and guided on the first 5 questions of every blind file, then `score` on a labelled file."""
    import os

    env = {**os.environ, "GUIDEDCOT_DATA": str(shared_data), "GUIDEDCOT_CACHE": str(tmp_path / "cache")}
    files = [
        str(BLIND / f"{d}_blind_{c}.json") for d in ("hotpotqa", "2wiki") for c in ("gold", "distractor")
    ]
    done = run_cli("predict", *[a for f in files for a in ("--dataset", f)], "--methods", "standard,guided",
                   "--reader", "smollm2", "--student", "smollm2", "--context-mode", "distractor", "--limit", "5",
                   "--out", str(tmp_path / "blind"), "--set", "reader.n_ctx=4096", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for file in files:
        for method in ("standard", "guided"):
            written = json.loads(
                (tmp_path / "blind" / Path(file).stem / method / "predictions.json").read_text()
            )
            assert len(written["answer"]) == 5
    refused = run_cli("predict", "--dataset", files[0], "--methods", "standard", "--reader", "smollm2",
                      "--limit", "1", "--out", str(tmp_path / "refused"), env=env)  # fmt: skip
    assert (
        refused.returncode == 2
        and "no supporting facts" in refused.stderr
        and "Traceback" not in refused.stderr
    )
    # a labelled file: predict, then score against it (and a paired difference of two methods)
    spec = "hotpotqa:dev[0:4]"
    done = run_cli("predict", "--dataset", spec, "--methods", "standard,cot", "--reader", "smollm2",
                   "--out", str(tmp_path / "dev"), "--set", "reader.n_ctx=4096", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    standard = tmp_path / "dev" / "hotpotqa" / "standard" / "predictions.json"
    scored = run_cli("score", str(standard), "--dataset", spec, "--baseline",
                     str(tmp_path / "dev" / "hotpotqa" / "cot" / "predictions.json"), env=env)  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "all" in scored.stdout and "minus" in scored.stdout and "scored 4 questions" in scored.stderr
    blind_score = run_cli("score", str(tmp_path / "blind" / "2wiki_blind_gold" / "standard" / "predictions.json"),
                          "--dataset", files[2], env=env)  # fmt: skip
    assert blind_score.returncode == 2 and "needs gold answers" in blind_score.stderr
