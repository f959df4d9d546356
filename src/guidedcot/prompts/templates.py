"""Every prompt text of the project, versioned; overridable from a config.

Four templates (see ../shared/docs/method.md): ``standard`` (question + context -> answer), ``cot``
(the reader's own zero-shot chain of thought: ``Reasoning: ...`` then ``Prediction: ...``),
``student`` (question + context -> rationale) and ``guided`` (question + context + rationale ->
answer). A template's version is its declared number plus a hash of its text, so an edited template
never shares a cache entry or a run label with the original.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from guidedcot.errors import ConfigError
from guidedcot.prompts.parsing import is_yes_no_question

TEMPLATE_NAMES = ("standard", "cot", "student", "guided")
_FIELDS = {
    "standard": {"question", "context"},
    "cot": {"question", "context"},
    "student": {"question", "context"},
    "guided": {"question", "context", "rationale"},
}
_OPTIONAL = {"answer_format"}


@dataclass(frozen=True)
class PromptTemplate:
    """One chat prompt: an optional system message and a user message with ``{field}`` slots."""

    name: str
    user: str
    system: str | None = None
    number: int = 1

    def __post_init__(self) -> None:
        if self.name not in _FIELDS:
            raise ConfigError(f"unknown prompt template {self.name!r}; known: {', '.join(TEMPLATE_NAMES)}")
        used = {name for _, name, _, _ in string.Formatter().parse(self.user) if name}
        missing, unknown = _FIELDS[self.name] - used, used - _FIELDS[self.name] - _OPTIONAL
        if missing or unknown:
            raise ConfigError(
                f"prompt template {self.name!r}: "
                + (f"missing slot(s) {', '.join('{' + m + '}' for m in sorted(missing))}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown slot(s) {', '.join('{' + u + '}' for u in sorted(unknown))}" if unknown else "")
                + f"; it takes {', '.join('{' + f + '}' for f in sorted(_FIELDS[self.name]))}"
                + " and optionally {answer_format}"
            )

    @property
    def version(self) -> str:
        """``name-vN-hash``: the declared number and the first 8 hex digits of the text's sha256."""
        text = "\x00".join([str(self.system), self.user, _SPAN, _YES_NO])
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        return f"{self.name}-v{self.number}-{digest}"

    def format(self, slots: Mapping[str, str]) -> str:
        """The user message with the slots filled (extra keys in ``slots`` are ignored).

        ``{answer_format}`` is filled from the question: yes/no questions are asked for yes or no,
        all others for a short span.
        """
        values = {k: slots[k] for k in _FIELDS[self.name]}
        values["answer_format"] = answer_format(slots["question"])
        return self.user.format(**values)

    def messages(self, slots: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The chat as (role, content) pairs: the system message (if any), then the filled user message.

        The one place a template becomes a chat: requests to any backend and the training prompts of
        the student are both built from it.
        """
        system = (("system", self.system),) if self.system else ()
        return (*system, ("user", self.format(slots)))


READER_SYSTEM = "You answer questions about a context."
_SPAN = "a short span from the context (a name, a title, a date or a number, only a few words)"
_YES_NO = "yes or no"


def answer_format(question: str) -> str:
    """What the answer should look like: ``yes or no`` for a yes/no question, else a short span."""
    return _YES_NO if is_yes_no_question(question) else _SPAN


_SHORT_ANSWER = "Answer with {answer_format}. Reply with the answer only."

# The reader templates share their system message and their question + context opening, so a
# llama.cpp slot that answered one method for a question reuses that prefix for the next method.
DEFAULT_TEMPLATES: dict[str, PromptTemplate] = {
    "standard": PromptTemplate(
        name="standard",
        system=READER_SYSTEM,
        user="Question: {question}\nContext:\n{context}\n\n" + _SHORT_ANSWER,
    ),
    "cot": PromptTemplate(
        name="cot",
        system=READER_SYSTEM,
        user=(
            "Question: {question}\nContext:\n{context}\n\n"
            "Let's think step by step. First write your reasoning on a line that starts with "
            "'Reasoning:', then the final answer on a line that starts with 'Prediction:'. The "
            "prediction is {answer_format}."
        ),
    ),
    "student": PromptTemplate(
        name="student",
        user=(
            "Question: {question}\nContext:\n{context}\n\n"
            "Explain, in two or three short sentences, which facts of the context answer the question "
            "and how they connect."
        ),
    ),
    "guided": PromptTemplate(
        name="guided",
        system=READER_SYSTEM,
        user=(
            "Question: {question}\nContext:\n{context}\nRationale: {rationale}\n\n"
            "Use the rationale if it helps. " + _SHORT_ANSWER
        ),
    ),
}


@dataclass
class PromptOverride:
    """A config override of one template; unset fields keep the default text."""

    user: str | None = field(default=None, metadata={"help": "User message with {question}, {context}..."})
    system: str | None = field(default=None, metadata={"help": "System message; '' removes it."})
    number: int | None = field(default=None, metadata={"help": "Declared version number."})


@dataclass
class PromptsConfig:
    """Per-template overrides (``--set prompts.cot.user=...``)."""

    standard: PromptOverride = field(default_factory=PromptOverride)
    cot: PromptOverride = field(default_factory=PromptOverride)
    student: PromptOverride = field(default_factory=PromptOverride)
    guided: PromptOverride = field(default_factory=PromptOverride)


def build_templates(config: PromptsConfig | None = None) -> dict[str, PromptTemplate]:
    """The default templates with the config's overrides applied (and validated)."""
    templates = dict(DEFAULT_TEMPLATES)
    for name in TEMPLATE_NAMES:
        override: PromptOverride = getattr(config, name) if config else PromptOverride()
        changes: dict[str, object] = {}
        if override.user is not None:
            changes["user"] = override.user
        if override.system is not None:
            changes["system"] = override.system or None
        if override.number is not None:
            changes["number"] = override.number
        if changes:
            templates[name] = replace(templates[name], **changes)
    return templates
