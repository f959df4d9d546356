"""Build the context text of a question: `gold` (supporting paragraphs) or `distractor` (all).

Under a token budget (counted with the model's own tokenizer, passed in as a function) the builder
removes text in this order, and reports everything it removed:
1. distractor paragraphs, last first;
2. sentences of gold paragraphs that are not supporting facts, from the end of the last paragraph;
3. whole gold paragraphs, last first (only when the supporting sentences alone do not fit).
Exact duplicate paragraphs (same title and text, which the official 2Wiki files contain) are kept once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from guidedcot.data.example import Example, Paragraph
from guidedcot.errors import GuidedCotError

TokenCounter = Callable[[str], int]


class ContextMode(StrEnum):
    """Which paragraphs go into the context."""

    GOLD = "gold"
    DISTRACTOR = "distractor"


@dataclass
class Truncation:
    """What the builder removed to meet the budget (all empty when nothing was removed)."""

    dropped_distractors: list[str] = field(default_factory=list)
    trimmed_gold_sentences: dict[str, int] = field(default_factory=dict)
    dropped_gold: list[str] = field(default_factory=list)
    tokens_cut: int = 0
    """Tokens of the full context minus tokens of the built one (by the budget's own counter)."""

    @property
    def truncated(self) -> bool:
        """True when any text was removed for the budget."""
        return bool(self.dropped_distractors or self.trimmed_gold_sentences or self.dropped_gold)


@dataclass
class BuiltContext:
    """The rendered context, the paragraphs in it, and what was removed on the way."""

    text: str
    paragraphs: list[Paragraph]
    truncation: Truncation
    duplicates_removed: int = 0
    tokens: int | None = None


def render_paragraphs(paragraphs: list[Paragraph]) -> str:
    """One paragraph per line as ``Title: text``."""
    return "\n".join(f"{paragraph.title}: {paragraph.text}" for paragraph in paragraphs)


@dataclass
class _Slot:
    paragraph: Paragraph
    gold: bool
    supporting: frozenset[int]
    kept: list[int]

    def current(self) -> Paragraph:
        return Paragraph(self.paragraph.title, tuple(self.paragraph.sentences[i] for i in self.kept))


def build_context(
    example: Example,
    mode: ContextMode | str = ContextMode.GOLD,
    *,
    max_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> BuiltContext:
    """Select, de-duplicate and render the example's paragraphs, within ``max_tokens`` if given."""
    mode = ContextMode(mode)
    if max_tokens is not None and count_tokens is None:
        raise ValueError("a token budget needs count_tokens (the model tokenizer's length function)")
    if mode is ContextMode.GOLD and not example.has_gold:
        raise GuidedCotError(
            f"{example.dataset} question {example.id!r} has no supporting facts, so its gold context "
            "would be empty; use context_mode=distractor or give the record supporting_facts"
        )
    gold_titles = set(example.gold_titles)
    supporting = _supporting_sentences(example)

    slots: list[_Slot] = []
    seen: set[Paragraph] = set()
    gold_seen: set[str] = set()
    duplicates = 0
    for paragraph in example.paragraphs:
        if paragraph in seen:
            duplicates += 1
            continue
        seen.add(paragraph)
        # A title repeated with different text: only its first paragraph is the gold one.
        is_gold = paragraph.title in gold_titles and paragraph.title not in gold_seen
        if is_gold:
            gold_seen.add(paragraph.title)
        if mode is ContextMode.GOLD and not is_gold:
            continue
        slots.append(
            _Slot(
                paragraph=paragraph,
                gold=is_gold,
                supporting=frozenset(supporting.get(paragraph.title, ())) if is_gold else frozenset(),
                kept=list(range(len(paragraph.sentences))),
            )
        )

    truncation = Truncation()

    def render() -> str:
        return render_paragraphs([slot.current() for slot in slots if slot.kept])

    text = render()
    if max_tokens is None or count_tokens is None:
        return BuiltContext(text, [s.current() for s in slots], truncation, duplicates)

    tokens = full_tokens = count_tokens(text)

    def fits() -> bool:
        nonlocal text, tokens
        text = render()
        tokens = count_tokens(text)
        return tokens <= max_tokens

    if tokens > max_tokens:
        for slot in reversed([s for s in slots if not s.gold]):
            slots.remove(slot)
            truncation.dropped_distractors.insert(0, slot.paragraph.title)
            if fits():
                break
    if tokens > max_tokens:
        _trim_gold_sentences(slots, truncation, fits)
    if tokens > max_tokens:
        for slot in reversed(list(slots)):
            slots.remove(slot)
            truncation.dropped_gold.insert(0, slot.paragraph.title)
            if fits():
                break
    kept = [slot.current() for slot in slots if slot.kept]
    truncation.tokens_cut = full_tokens - tokens if truncation.truncated else 0
    return BuiltContext(text, kept, truncation, duplicates, tokens)


def _supporting_sentences(example: Example) -> dict[str, set[int]]:
    """The supporting sentence indices of each gold title (all of a paragraph given gold as a whole)."""
    supporting: dict[str, set[int]] = {}
    for fact in example.supporting_facts:
        paragraph_sentences = next((len(p.sentences) for p in example.paragraphs if p.title == fact.title), 0)
        # A whole gold paragraph (gold given per paragraph): every sentence of it is supporting.
        indices = range(paragraph_sentences) if fact.sentence_index is None else (fact.sentence_index,)
        supporting.setdefault(fact.title, set()).update(indices)
    return supporting


def _trim_gold_sentences(slots: list[_Slot], truncation: Truncation, fits: Callable[[], bool]) -> None:
    """Remove non-supporting sentences of gold paragraphs, from the end, until the text fits."""
    for slot in reversed(slots):
        removable = [i for i in reversed(slot.kept) if i not in slot.supporting]
        for sentence_index in removable:
            if len(slot.kept) == 1:
                break
            slot.kept.remove(sentence_index)
            title = slot.paragraph.title
            truncation.trimmed_gold_sentences[title] = truncation.trimmed_gold_sentences.get(title, 0) + 1
            if fits():
                return


def build_contexts(
    examples: Sequence[Example],
    mode: ContextMode | str,
    *,
    max_tokens: int | None,
    count_tokens: TokenCounter | None,
) -> list[BuiltContext]:
    """The built context of each example; the budget applies only when a token counter is given."""
    budget = max_tokens if count_tokens else None
    return [build_context(e, mode, max_tokens=budget, count_tokens=count_tokens) for e in examples]


def context_texts(
    examples: Sequence[Example],
    mode: ContextMode | str,
    *,
    max_tokens: int | None,
    count_tokens: TokenCounter | None,
) -> list[str]:
    """The context text of each example (see `build_contexts`)."""
    built = build_contexts(examples, mode, max_tokens=max_tokens, count_tokens=count_tokens)
    return [b.text for b in built]


@dataclass(frozen=True)
class TruncationCount:
    """How many of a dataset's contexts the budget cut, and by how many tokens in all."""

    questions: int
    truncated: int
    tokens_cut: int

    @classmethod
    def of(cls, built: Sequence[BuiltContext]) -> TruncationCount:
        """The count over ``built`` contexts."""
        cut = [b.truncation for b in built if b.truncation.truncated]
        return cls(len(built), len(cut), sum(t.tokens_cut for t in cut))

    def describe(self) -> str:
        """``3 of 103 questions, 512 tokens cut`` (or ``none of 103 questions``)."""
        if not self.truncated:
            return f"none of {self.questions} questions"
        return f"{self.truncated} of {self.questions} questions, {self.tokens_cut} tokens cut"
