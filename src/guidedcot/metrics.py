"""Answer normalisation, exact match and F1: the official HotpotQA rules, best over aliases for 2Wiki.

This module is the one home of answer normalisation in the project.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b", flags=re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)
_SPECIAL_ANSWERS = frozenset({"yes", "no", "noanswer"})


def normalize_answer(text: str) -> str:
    """Lower-case, remove ASCII punctuation, remove the articles a/an/the, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised prediction equals the normalised gold answer, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised answers.

    As in the official HotpotQA evaluation, when either normalised answer is ``yes``, ``no`` or
    ``noanswer`` and the two differ, F1 is 0.
    """
    pred_norm = normalize_answer(prediction)
    gold_norm = normalize_answer(gold)
    if pred_norm != gold_norm and (pred_norm in _SPECIAL_ANSWERS or gold_norm in _SPECIAL_ANSWERS):
        return 0.0
    pred_tokens = pred_norm.split()
    gold_tokens = gold_norm.split()
    if not pred_tokens or not gold_tokens:
        # Both empty after normalisation (e.g. "the" vs "a"): as in SQuAD 2.0, equal means 1.
        # The HotpotQA script returns 0 here, which would break "EM = 1 implies F1 = 1".
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_exact_match(prediction: str, golds: Iterable[str]) -> float:
    """Exact match against the best of several gold aliases (0.0 when there are none)."""
    return max((exact_match(prediction, gold) for gold in golds), default=0.0)


def best_f1(prediction: str, golds: Iterable[str]) -> float:
    """F1 against the best of several gold aliases (0.0 when there are none)."""
    return max((f1_score(prediction, gold) for gold in golds), default=0.0)


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """True when the normalised text contains a normalised gold answer as whole words."""
    haystack = f" {normalize_answer(text)} "
    return any(f" {form} " in haystack for form in (normalize_answer(a) for a in answers) if form)
