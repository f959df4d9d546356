"""The judge prompts of the eight rationale-quality aspects (see ../shared/docs/method.md).

Each aspect is one yes/no question about a rationale, given the question and its context. The judge
chat is laid out so that the eight questions about one rationale share one prefix: the system
message, then question, context and rationale, and only then the aspect's question. A llama.cpp
slot (or any server with prefix caching) reads the long part once per rationale, not once per aspect.
Every aspect prompt is versioned by a hash of its text, and each can be overridden from a config.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from guidedcot.errors import ConfigError

JUDGE_SYSTEM = "You judge the quality of a rationale written to answer a question about a context."
_LAYOUT = "Question: {question}\nContext:\n{context}\nRationale: {rationale}\n\n"
_ASK = " Answer yes or no."

ASPECT_QUESTIONS: dict[str, str] = {
    "factuality": "Does the rationale state only facts that agree with the context, inventing nothing?",
    "relevance": "Does the rationale address what the question asks, with no off-topic material?",
    "logicality": "Does each step of the rationale follow from the ones before, so that the inference is valid?",
    "consistency": "Is the rationale free of contradictions with itself, with the question and with the context?",
    "coherence": "Does the rationale connect its steps into one ordered line of reasoning?",
    "fluency": "Is the rationale written in grammatical, well-formed sentences?",
    "naturalness": "Does the rationale read like a person's explanation rather than repetitive or templated text?",
    "readability": "Is the rationale easy to follow: concise, with clear references and no clutter?",
}
ASPECTS = tuple(ASPECT_QUESTIONS)


@dataclass(frozen=True)
class AspectPrompt:
    """The judge chat for one aspect: the shared layout, then this aspect's yes/no question."""

    aspect: str
    question: str
    system: str | None = JUDGE_SYSTEM
    number: int = 1

    @property
    def version(self) -> str:
        """``judge-ASPECT-vN-hash``: the declared number and a hash of the whole prompt text."""
        text = "\x00".join([str(self.system), _LAYOUT, self.question, _ASK])
        return f"judge-{self.aspect}-v{self.number}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def messages(self, question: str, context: str, rationale: str) -> tuple[tuple[str, str], ...]:
        """(role, content) pairs; everything before the aspect's question is the same for all aspects."""
        user = _LAYOUT.format(question=question, context=context, rationale=rationale) + self.question + _ASK
        return ((("system", self.system),) if self.system else ()) + (("user", user),)


@dataclass
class JudgeConfig:
    """The judge's aspects, their weights in `R_aspect`, and optional question overrides."""

    aspects: list[str] = field(
        default_factory=lambda: list(ASPECTS),
        metadata={"help": "Aspects to judge (any of the eight); fewer aspects cost fewer judge calls."},
    )
    weights: dict[str, float] = field(
        default_factory=dict,
        metadata={
            "help": "Weight per aspect in R_aspect (default 1 each, so R_aspect lies in [0, n aspects])."
        },
    )
    questions: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "Replacement yes/no question per aspect (--set judge.questions.fluency=...)."},
    )
    system: str | None = field(default=None, metadata={"help": "Judge system message; '' removes it."})


def build_aspect_prompts(config: JudgeConfig | None = None) -> dict[str, AspectPrompt]:
    """The configured aspects' prompts, overrides applied; unknown aspect names are a ConfigError."""
    config = config or JudgeConfig()
    unknown = (set(config.aspects) | set(config.weights) | set(config.questions)) - set(ASPECTS)
    if unknown:
        raise ConfigError(f"unknown aspect(s) {', '.join(sorted(unknown))}; known: {', '.join(ASPECTS)}")
    if not config.aspects:
        raise ConfigError("judge.aspects is empty: name at least one of " + ", ".join(ASPECTS))
    system = JUDGE_SYSTEM if config.system is None else (config.system or None)
    return {
        name: AspectPrompt(
            aspect=name,
            question=config.questions.get(name, ASPECT_QUESTIONS[name]),
            system=system,
        )
        for name in config.aspects
    }
