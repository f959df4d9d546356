"""The `Example` type every dataset loads into: one multi-hop question with its paragraphs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """One titled context paragraph, as a list of sentences (a one-string paragraph is one sentence)."""

    title: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        """The sentences joined as they appear in the source (HotpotQA sentences carry their spaces)."""
        return "".join(self.sentences).strip()


@dataclass(frozen=True)
class SupportingFact:
    """A gold sentence (the paragraph title and the sentence index inside it), or a whole gold
    paragraph (``sentence_index`` None: files that give gold per paragraph)."""

    title: str
    sentence_index: int | None


@dataclass(frozen=True)
class Example:
    """One question with its gold answers (aliases; none for a question to predict), type, supporting
    facts and context paragraphs."""

    id: str
    question: str
    answers: tuple[str, ...]
    type: str
    supporting_facts: tuple[SupportingFact, ...]
    paragraphs: tuple[Paragraph, ...]
    dataset: str
    level: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def answer(self) -> str:
        """The first (canonical) gold answer."""
        return self.answers[0]

    @property
    def labelled(self) -> bool:
        """True when the record gives gold answers (a question to predict may have none)."""
        return bool(self.answers)

    @property
    def has_gold(self) -> bool:
        """True when the record names supporting facts (the gold context needs them)."""
        return bool(self.supporting_facts)

    @property
    def gold_titles(self) -> tuple[str, ...]:
        """Titles of the supporting paragraphs, without repeats, in supporting-fact order."""
        return tuple(dict.fromkeys(fact.title for fact in self.supporting_facts))
