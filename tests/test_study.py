"""Studies: every shipped config plans (a dry run), bad studies fail naming the key, paired
differences are right on hand-made records, and a study's summary pairs every row."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from guidedcot.cli.app import main
from guidedcot.config import load_config
from guidedcot.distill.store import TeacherRecord
from guidedcot.errors import ConfigError, GuidedCotError
from guidedcot.evaluate.paired import paired_rows
from guidedcot.evaluate.records import PredictionRecord
from guidedcot.study import StudyConfig, build_plan
from guidedcot.study.run import summarize_mode
from guidedcot.study.summary import study_markdown

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_the_shipped_configs_are_the_ones_the_docs_name() -> None:
    names = ["cpu-study-full", "cpu-study", "paper-2wiki", "paper-hotpotqa", "scale", "study"]
    assert [c.stem for c in CONFIGS] == names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.stem)
def test_every_shipped_config_plans(
    config: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = load_config(StudyConfig, config)
    plan = build_plan(study, shared_data)
    kinds = [stage.kind for stage in plan.stages]
    assert kinds[0] == "teacher" and "distill" in kinds and "rl" in kinds and kinds[-1] == "evaluate"
    assert all(stage.questions > 0 for stage in plan.stages if stage.kind != "distill")
    evaluations = [s for s in plan.stages if s.kind == "evaluate"]
    assert len(evaluations) == len(study.context_modes) * (1 + len(study.guides))
    assert main(["study", str(config), "--dry-run", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert f"Study {study.name!r}" in out and "reader calls (fewer where the generation cache" in out


RL_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "rl").glob("*.yaml"))


@pytest.mark.parametrize("config", RL_CONFIGS, ids=lambda c: c.stem)
def test_every_shipped_rl_config_loads_and_checks(config: Path) -> None:
    from guidedcot.rl import RLConfig
    from guidedcot.rl.trainer import check_config

    rl = load_config(RLConfig, config)
    check_config(rl)
    assert rl.out and rl.out.startswith("runs/") and rl.steps >= 12


def plan_of(shared_data: Path, tmp_path: Path, **changes: object) -> StudyConfig:
    values: dict[str, object] = {
        "out": str(tmp_path / "study"),
        "teacher": {"datasets": ["hotpotqa:train"], "limit": 4},
        "distill": {"full": {"epochs": 1}},
        "rl": {"task": {"from": "full", "steps": 1, "datasets": ["hotpotqa:train[0:8]"]}},
        "evaluate": {"datasets": ["hotpotqa:dev[0:3]", "2wiki:dev[0:2]"], "methods": ["standard", "guided"]},
        "guides": ["untrained", "distill:full", "rl:task"],
    }
    values.update(changes)
    path = tmp_path / "study.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML
    study = load_config(StudyConfig, path)
    build_plan(study, shared_data)
    return study


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"distill": {"full": {"epoch": 1}}}, "unknown config key 'distill.full.epoch'"),
        ({"rl": {"task": {"from": "nosuch"}}}, "rl.task.from: 'nosuch' is not a distillation variant"),
        (
            {"rl": {"task": {"algo": "dpo"}}},
            "config key 'rl.task.algo' must be one of ppo, grpo, rloo; got 'dpo'",
        ),
        ({"guides": ["rl:nosuch"]}, "guides: 'rl:nosuch' is none of"),
        ({"evaluate": {"out": "x"}}, "study key evaluate.out is set by the study"),
        ({"rl": {"task": {"student": "x"}}}, "rl.task.student is set by the study (use the study's 'from')"),
        ({"baseline": "cot"}, "baseline: 'cot' is not among evaluate.methods"),
        (
            {"evaluate": {"datasets": ["hotpotqa:train[2:6]"], "split": "train"}},
            "shares 2 question(s) with teacher",
        ),
        (
            {"evaluate": {"datasets": ["hotpotqa:train[6:9]"], "split": "train"}},
            "shares 2 question(s) with rl task",
        ),
        ({"distill": {"a b": {}}}, "names are letters, digits"),
    ],
)
def test_a_bad_study_fails_naming_the_key(
    shared_data: Path, tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_of(shared_data, tmp_path, **changes)
    assert message in str(caught.value)


def test_a_stage_may_set_a_nested_section(shared_data: Path, tmp_path: Path) -> None:
    study = plan_of(
        shared_data, tmp_path,
        teacher={"datasets": ["hotpotqa:train"], "limit": 4, "prompts": {"cot": {"system": "Think twice."}}},
        evaluate={"datasets": ["hotpotqa:dev[0:3]"], "methods": ["standard", "guided"],
                  "prompts": {"guided": {"system": "Use the rationale."}}, "judge": {"aspects": ["factuality"]}},
        reader={"model": "qwen2.5-coder-1.5b-instruct", "n_ctx": 4096},
    )  # fmt: skip
    plan = build_plan(study, shared_data)
    teacher = plan.stage("teacher", "teacher").config
    evaluation = next(s for s in plan.stages if s.kind == "evaluate").config
    assert teacher.prompts.cot.system == "Think twice." and teacher.prompts.guided.system is None
    assert evaluation.prompts.guided.system == "Use the rationale." and evaluation.judge.aspects == [
        "factuality"
    ]
    assert evaluation.reader.n_ctx == 4096 and teacher.teacher.n_ctx == 4096
    with pytest.raises(ConfigError, match=r"unknown config key 'evaluate\.prompts\.guided\.sistem'"):
        plan_of(shared_data, tmp_path, evaluate={"prompts": {"guided": {"sistem": "x"}}})


def test_the_teacher_stage_is_done_when_its_store_holds_every_question_and_sample(
    shared_data: Path, tmp_path: Path
) -> None:
    """The plan marks the teacher [done] like every other finished stage; a store that lacks a question
    or ends in a killed write is not done, and reading it never raises."""
    plan = build_plan(plan_of(shared_data, tmp_path), shared_data)
    teacher = plan.stage("teacher", "teacher")
    keys = sorted(teacher.ids)
    assert len(keys) == 4 and teacher.config.samples == 1

    def write(rows: list[tuple[str, str]], tail: str = "") -> None:
        teacher.out.mkdir(parents=True, exist_ok=True)
        records = [
            TeacherRecord(dataset=d, id=i, type="bridge", question="q", context="c", gold=["a"], sample_index=0,
                          output="a", reasoning="r", prediction="a", has_prediction_line=True, em=1.0, f1=1.0)
            for d, i in rows
        ]  # fmt: skip
        text = "".join(json.dumps(asdict(r)) + "\n" for r in records)
        (teacher.out / "rationales.jsonl").write_text(text + tail, encoding="utf-8")

    assert not teacher.done()
    write(keys[:3])
    assert not teacher.done() and "teacher [done]" not in "\n".join(plan.describe())
    write(keys)
    assert teacher.done() and "1. teacher [done]:" in "\n".join(plan.describe())
    write(keys, tail='{"dataset": "hot')
    assert not teacher.done()


def record(dataset: str, qid: str, method: str, em: float, **extra: object) -> PredictionRecord:
    return PredictionRecord(
        dataset=dataset, method=method, id=qid, type="bridge", question="q", gold=["a"], context="c",
        rationale=None if method == "standard" else "r", reader_output="a", answer="a", em=em, f1=em,
        rationale_words=None, rationale_contains_gold=None, reader_prompt_tokens=1, reader_completion_tokens=1,
        student_prompt_tokens=0, student_completion_tokens=0, calls=1, cached_calls=0, missing_prediction=0,
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_paired_differences_on_hand_made_records() -> None:
    ours = [record("hotpotqa", str(i), "guided", em) for i, em in enumerate([1, 1, 0, 1])]
    ours += [record("2wiki", str(i), "guided", em) for i, em in enumerate([0, 1])]
    theirs = [record("hotpotqa", str(i), "standard", em) for i, em in enumerate([0, 1, 1, 0])]
    theirs += [record("2wiki", str(i), "standard", em) for i, em in enumerate([0, 0])]
    rows = {r.dataset: r for r in paired_rows("guided", ours, "standard", theirs)}
    assert (rows["hotpotqa"].n, rows["hotpotqa"].difference, rows["hotpotqa"].wins, rows["hotpotqa"].losses) == (
        4, 0.25, 2, 1,
    )  # fmt: skip
    assert (rows["2wiki"].difference, rows["all"].n) == (0.5, 6)
    assert rows["all"].difference == pytest.approx(2 / 6)
    assert rows["all"].low <= rows["all"].difference <= rows["all"].high
    same = paired_rows("guided", ours, "guided", ours)
    assert all((r.difference, r.low, r.high) == (0, 0, 0) for r in same)
    with pytest.raises(GuidedCotError, match="question '3' of hotpotqa was answered by only one"):
        paired_rows("guided", ours[:3] + ours[4:], "standard", theirs)


def test_the_summary_names_each_guide_and_pairs_every_row(shared_data: Path, tmp_path: Path) -> None:
    study = plan_of(shared_data, tmp_path)
    plan = build_plan(study, shared_data)
    evaluations = [s for s in plan.stages if s.kind == "evaluate"]
    questions = [("hotpotqa", f"h{i}") for i in range(3)] + [("2wiki", f"w{i}") for i in range(2)]
    scores = {"baselines": [0, 1, 0, 0, 1], "untrained": [0, 1, 1, 0, 1], "distill:full": [1, 1, 0, 0, 1],
              "rl:task": [1, 1, 1, 1, 1]}  # fmt: skip
    for stage in evaluations:
        assert stage.guide is not None
        name = "baselines" if stage.name.endswith("baselines") else stage.guide
        method = "standard" if name == "baselines" else "guided"
        records = [
            record(d, q, method, em, aspect_total=None)
            for (d, q), em in zip(questions, scores[name], strict=True)
        ]
        stage.out.mkdir(parents=True)
        lines = "".join(json.dumps(asdict(r)) + "\n" for r in records)
        (stage.out / "predictions.jsonl").write_text(lines, encoding="utf-8")
    mode = summarize_mode(plan, "gold")
    methods = [row.method for row in mode.summary.overall()]
    assert set(methods) == {"standard", "guided (untrained)", "guided (distill:full)", "guided (rl:task)"}
    paired = {(r.dataset, r.method, r.baseline): r for r in mode.paired}
    assert paired["all", "guided (rl:task)", "standard"].difference == pytest.approx(3 / 5)
    assert paired["all", "guided (rl:task)", "guided (distill:full)"].difference == pytest.approx(2 / 5)
    assert paired["hotpotqa", "guided (untrained)", "standard"].wins == 1
    page = study_markdown(plan, [mode], {"teacher": 1.0})
    assert "| all | guided (rl:task) | guided (distill:full) | 5 | +40.0 [" in page
    assert "## Context: gold" in page and "- teacher: 1" in page


def test_compare_pairs_two_run_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def folder(name: str, method: str, ems: list[int], aspects: list[float] | None) -> Path:
        path = tmp_path / name
        path.mkdir()
        records = [
            record("hotpotqa", f"q{i}", method, em, aspect_total=None if aspects is None else aspects[i])
            for i, em in enumerate(ems)
        ]
        lines = "".join(json.dumps(asdict(r)) + "\n" for r in records)
        (path / "predictions.jsonl").write_text(lines, encoding="utf-8")
        return path

    rl = folder("rl", "guided", [1, 1, 0, 1, 1], [6.0, 5.0, 4.0, 7.0, 8.0])
    kd = folder("kd", "guided", [0, 1, 0, 1, 0], [5.0, 5.0, 5.0, 5.0, 5.0])
    assert main(["compare", str(rl), str(kd)]) == 0
    out = capsys.readouterr().out
    assert "+40.00" in out and "aspect_total" in out and "+1.00" in out  # EM in points, R_aspect as is
    both = folder("both", "standard", [0] * 5, None)
    with (both / "predictions.jsonl").open("a", encoding="utf-8") as extra:
        extra.write(json.dumps(asdict(record("hotpotqa", "q0", "cot", 1))) + "\n")
    assert main(["compare", str(rl), str(both)]) == 2
    assert "has no method 'guided' (it has standard, cot)" in capsys.readouterr().err
    assert main(["compare", str(both), str(rl)]) == 2
    assert "holds methods standard, cot: choose one with --method" in capsys.readouterr().err
    assert main(["compare", str(rl), str(both), "--baseline-method", "standard"]) == 0
    assert "aspect_total" not in capsys.readouterr().out  # the baseline was not judged


def test_the_rl_page_carries_every_knob_with_the_configs_own_help() -> None:
    import dataclasses

    from guidedcot.rl import RLConfig

    page = (Path(__file__).resolve().parents[1] / "docs" / "rl.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(RLConfig):
        help_text = field.metadata.get("help", "").replace("|", "\\|")
        assert f"| `{field.name}` |" in page, field.name
        assert help_text in page, f"docs/rl.md lacks the help of {field.name}: {help_text}"
