"""`distill generate`: the reader, prompted with the original-CoT template, writes k rationales per
training question into the teacher store; finished questions are skipped on a rerun."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from guidedcot.data.context import TokenCounter, context_texts
from guidedcot.data.selection import select_examples
from guidedcot.distill.config import GenerateConfig
from guidedcot.distill.store import TeacherRecord, TeacherStore
from guidedcot.llm.types import LanguageModel
from guidedcot.metrics import best_exact_match, best_f1
from guidedcot.pipeline import template_request
from guidedcot.progress import ProgressHook
from guidedcot.prompts import build_templates, split_cot

logger = logging.getLogger(__name__)


def store_identity(config: GenerateConfig, teacher: LanguageModel) -> dict[str, object]:
    """What must match for records to share one store."""
    template = build_templates(config.prompts)["cot"]
    return {
        "teacher": teacher.identity,
        "prompt_version": template.version,
        "decoding": {
            "temperature": config.temperature if config.samples > 1 else 0.0,
            "max_new_tokens": config.cot_tokens,
            "seed": config.seed,
        },
        "samples": config.samples,
        "context": {"mode": str(config.context_mode), "max_tokens": config.max_context_tokens},
    }


def generate_rationales(
    config: GenerateConfig,
    *,
    teacher: LanguageModel,
    data_dir: Path | None,
    count_tokens: TokenCounter | None = None,
    progress: ProgressHook | None = None,
) -> TeacherStore:
    """Fill the store at ``config.out`` with every missing (question, sample) of the datasets."""
    template = build_templates(config.prompts)["cot"]
    store = TeacherStore.open(config.out, store_identity(config, teacher))
    done = store.done()
    selections = [
        select_examples(spec, data_dir, split="train", limit=config.limit) for spec in config.datasets
    ]
    datasets = [
        {"spec": spec, "name": s.name, "files": [str(f) for f in s.files], "questions": len(s.examples)}
        for spec, s in zip(config.datasets, selections, strict=True)
    ]
    total = sum(len(s.examples) for s in selections)
    finished = 0
    temperature = config.temperature if config.samples > 1 else 0.0
    for selection in selections:
        todo = [
            e
            for e in selection.examples
            if any((selection.name, e.id, k) not in done for k in range(config.samples))
        ]
        finished += len(selection.examples) - len(todo)
        if progress:
            progress(selection.name, finished, total)
        step = max(1, config.questions_per_step)
        for start in range(0, len(todo), step):
            examples = todo[start : start + step]
            contexts = context_texts(
                examples, config.context_mode, max_tokens=config.max_context_tokens, count_tokens=count_tokens
            )
            wanted = [
                (e, c, k)
                for e, c in zip(examples, contexts, strict=True)
                for k in range(config.samples)
                if (selection.name, e.id, k) not in done
            ]
            requests = [
                template_request(
                    template,
                    {"question": e.question, "context": c},
                    max_new_tokens=config.cot_tokens,
                    temperature=temperature,
                    sample_index=k,
                    seed=config.seed,
                )
                for e, c, k in wanted
            ]
            outputs = teacher.generate(requests)
            records = [
                teacher_record(selection.name, example, context, k, output)
                for (example, context, k), output in zip(wanted, outputs, strict=True)
            ]
            store.append(records, datasets)
            finished += len(examples)
            if progress:
                progress(selection.name, finished, total)
    store.write_manifest(datasets)
    return store


def teacher_record(dataset: str, example: Any, context: str, sample_index: int, output: Any) -> TeacherRecord:
    """The store's record of one teacher output: its reasoning and prediction split, EM and F1 against
    the example's gold answers, and the tokens it cost."""
    split = split_cot(output.text, example.question)
    return TeacherRecord(
        dataset=dataset, id=example.id, type=example.type, question=example.question, context=context,
        gold=list(example.answers), sample_index=sample_index, output=output.text, reasoning=split.reasoning,
        prediction=split.prediction, has_prediction_line=split.has_prediction_line,
        em=best_exact_match(split.prediction, example.answers), f1=best_f1(split.prediction, example.answers),
        prompt_tokens=output.prompt_tokens, completion_tokens=output.completion_tokens,
    )  # fmt: skip
