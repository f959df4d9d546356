"""`R_aspect`: the quality of a rationale over the eight aspects, each judged yes/no by an LLM.

Score of an aspect in [0, 1] = P(yes) / (P(yes) + P(no)) from the judge's first-token
log-probabilities. A judge backend without log-probabilities answers in text instead, parsed as 1
for yes and 0 for no (0.5 when it says neither); ``uses_logprobs`` tells which, for the report.
`R_aspect` = the weighted sum of the aspect scores (weights 1 by default, so in [0, n aspects]).
All (rationale, aspect) requests of a batch go to the judge in one call, ordered rationale by
rationale so that the eight questions about one rationale reuse its question + context prefix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guidedcot.llm.types import GenerationRequest, LanguageModel, can_score_choices, chat_request
from guidedcot.pipeline import Question
from guidedcot.prompts import AspectPrompt, JudgeConfig, build_aspect_prompts
from guidedcot.rewards.columns import read_columns

_YES_NO = ("yes", "no")
_VERDICT = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def yes_share(logprobs: dict[str, float]) -> float:
    """P(yes) / (P(yes) + P(no)); 0.5 when neither option is among the judge's top tokens."""
    yes, no = math.exp(logprobs["yes"]), math.exp(logprobs["no"])
    return yes / (yes + no) if yes + no > 0 else 0.5


def parse_verdict(text: str) -> float:
    """1.0 for a reply starting with yes, 0.0 for no, 0.5 for anything else."""
    match = _VERDICT.match(text)
    if not match:
        return 0.5
    return 1.0 if match.group(1).lower() == "yes" else 0.0


@dataclass(frozen=True)
class AspectScores:
    """One rationale's score per aspect and their weighted sum (`R_aspect`)."""

    scores: dict[str, float]
    total: float


class AspectJudge:
    """Judges rationales on the configured aspects with one judge model (the reader by default)."""

    def __init__(self, judge: LanguageModel, config: JudgeConfig | None = None, *, seed: int = 0) -> None:
        self.judge = judge
        self.config = config or JudgeConfig()
        self.prompts: dict[str, AspectPrompt] = build_aspect_prompts(self.config)
        self.weights = {name: self.config.weights.get(name, 1.0) for name in self.prompts}
        self.uses_logprobs = can_score_choices(judge)
        self.seed = seed

    @property
    def versions(self) -> dict[str, str]:
        """Prompt version per aspect (for run folders and reports)."""
        return {name: prompt.version for name, prompt in self.prompts.items()}

    def _request(self, prompt: AspectPrompt, question: Question, rationale: str) -> GenerationRequest:
        return chat_request(
            prompt.messages(question.question, question.context, rationale),
            max_new_tokens=1 if self.uses_logprobs else 4,
            seed=self.seed,
        )

    def judge_all(self, questions: Sequence[Question], rationales: Sequence[str]) -> list[AspectScores]:
        """Every aspect of every (question, rationale), in one batch to the judge."""
        requests = [
            self._request(prompt, question, rationale)
            for question, rationale in zip(questions, rationales, strict=True)
            for prompt in self.prompts.values()
        ]
        if self.uses_logprobs:
            flat = [yes_share(s) for s in self.judge.choice_logprobs(requests, _YES_NO)]  # type: ignore[attr-defined]
        else:
            flat = [parse_verdict(g.text) for g in self.judge.generate(requests)]
        n = len(self.prompts)
        results = []
        for start in range(0, len(flat), n):
            scores = dict(zip(self.prompts, flat[start : start + n], strict=True))
            results.append(AspectScores(scores, sum(self.weights[a] * v for a, v in scores.items())))
        return results


class AspectReward:
    """A reward function ``(prompts, completions, **columns) -> list[float]``: `R_aspect` per
    completion (`results` gives the per-aspect scores behind it)."""

    def __init__(self, judge: AspectJudge) -> None:
        self.judge = judge
        self.__name__ = "aspect"

    def results(self, completions: Sequence[Any], **columns: Any) -> list[AspectScores]:
        """Every aspect's score and the weighted total, per completion."""
        questions, rationales, _ = read_columns(completions, columns)
        return self.judge.judge_all(questions, rationales)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **columns: Any
    ) -> list[float]:
        return [s.total for s in self.results(completions, **columns)]
