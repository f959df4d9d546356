"""The guided method behind the server: a batched student stage, then a batched (or streamed) reader.

Each request goes through admission (a bounded number in the house), the student stage (its n
rationales, batched with other requests'), then either the reader stage (batched; with n > 1 the
majority of the n answers wins, as in self-consistency) or, for a streamed request with n = 1, a
stream from the reader straight to the client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from guidedcot.llm.streaming import StreamChunk, stream_generation
from guidedcot.llm.types import Generation, GenerationRequest, LanguageModel
from guidedcot.memory import release_free_heap
from guidedcot.pipeline import Answerer, Question, TokenLimits
from guidedcot.pipeline.voting import majority_vote
from guidedcot.prompts import PromptTemplate, extract_answer
from guidedcot.serve.batching import Batched, Batcher
from guidedcot.serve.config import ServeConfig
from guidedcot.serve.protocol import ApiError, ChatQuery


@dataclass(frozen=True)
class Drafts:
    """A request's rationales from the student stage."""

    generations: list[Generation]
    run_s: float
    batch_size: int

    @property
    def texts(self) -> list[str]:
        """The rationales, stripped (what the reader reads)."""
        return [g.text.strip() for g in self.generations]


@dataclass(frozen=True)
class ReaderStageResult:
    """A request's reader outputs from the reader stage, and the answer they give."""

    outputs: list[Generation]
    answers: list[str]
    run_s: float
    batch_size: int

    @property
    def answer(self) -> str:
        """The majority answer (the only answer when n = 1)."""
        return majority_vote(self.answers)


class GuidedEngine:
    """A student and a reader answering chat requests together; start() and stop() on the event loop."""

    def __init__(
        self,
        student: LanguageModel,
        reader: LanguageModel,
        templates: Mapping[str, PromptTemplate],
        settings: ServeConfig,
    ) -> None:
        self.settings = settings
        self.student = student
        self.reader = reader
        self.answerer = Answerer(
            reader=reader,
            templates=templates,
            student=student,
            limits=TokenLimits(
                answer_tokens=settings.answer_tokens,
                rationale_tokens=settings.rationale_tokens,
                seed=settings.seed,
            ),
        )
        wait_s = settings.batch_wait_ms / 1000
        self._student_stage: Batcher[tuple[Question, ChatQuery], list[Generation]] = Batcher(
            self._write, max_batch=settings.max_batch, wait_s=wait_s
        )
        self._reader_stage: Batcher[tuple[Question, ChatQuery, list[str]], list[Generation]] = Batcher(
            self._read, max_batch=settings.max_batch, wait_s=wait_s, workers=settings.reader_batches
        )
        self.in_house = 0

    def start(self) -> None:
        """Start both stages' workers."""
        self._student_stage.start()
        self._reader_stage.start()

    async def stop(self) -> None:
        """Stop both stages' workers."""
        await self._student_stage.stop()
        await self._reader_stage.stop()

    def admit(self) -> None:
        """Count a request in (until `release`); beyond ``max_queue`` in progress it gets a 429."""
        if self.in_house >= self.settings.max_queue:
            raise ApiError(
                429,
                f"the server has {self.in_house} requests in progress (its max_queue); "
                f"retry after {self.settings.retry_after_s} s",
                kind="rate_limit_error",
                code="queue_full",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            )
        self.in_house += 1

    def release(self) -> None:
        """Count a finished (or failed) request out."""
        self.in_house -= 1

    async def draft(self, question: Question, query: ChatQuery) -> Drafts:
        """The request's n rationales (a 500 naming the student if it fails)."""
        try:
            done: Batched[list[Generation]] = await self._student_stage.submit((question, query))
        except Exception as error:
            raise ApiError(
                500, f"the student {self.student.identity} failed: {error}", kind="student_error"
            ) from error
        return Drafts(done.output, done.run_s, done.batch_size)

    async def read(self, question: Question, query: ChatQuery, drafts: Drafts) -> ReaderStageResult:
        """The reader's answer from each rationale (a 502 naming the reader if it fails)."""
        try:
            done = await self._reader_stage.submit((question, query, drafts.texts))
        except Exception as error:
            raise reader_error(self.reader, error) from error
        answers = [extract_answer(g.text, question.question) for g in done.output]
        return ReaderStageResult(done.output, answers, done.run_s, done.batch_size)

    def stream(self, question: Question, query: ChatQuery, rationale: str) -> AsyncIterator[StreamChunk]:
        """The reader's answer from one rationale, as it is written."""
        return stream_generation(self.reader, self._reading_request(question, query, rationale))

    def _reading_request(self, question: Question, query: ChatQuery, rationale: str) -> GenerationRequest:
        request = self.answerer.reading_request(question, rationale)
        return dataclasses.replace(request, max_new_tokens=query.answer_tokens)

    def _write(self, items: Sequence[tuple[Question, ChatQuery]]) -> list[list[Generation]]:
        drafts = self.answerer.write_rationales(
            [question for question, _ in items],
            samples=[query.n for _, query in items],
            temperature=[query.temperature for _, query in items],
        )
        if self.settings.release_heap:
            release_free_heap()
        return drafts

    def _read(self, items: Sequence[tuple[Question, ChatQuery, list[str]]]) -> list[list[Generation]]:
        requests = [self._reading_request(q, query, r) for q, query, rationales in items for r in rationales]
        outputs = self.reader.generate(requests)
        grouped, start = [], 0
        for _, _, rationales in items:
            grouped.append(list(outputs[start : start + len(rationales)]))
            start += len(rationales)
        return grouped

    async def reader_health(self) -> tuple[bool, str]:
        """Whether the reader answers: an endpoint is asked; a model in process is loaded."""
        ping = getattr(self.reader, "ping", None)
        return await ping() if ping is not None else (True, "loaded in process")


def reader_error(reader: LanguageModel, error: Exception) -> ApiError:
    """The 502 of a failed reader call: names the reader and says what went wrong, no traceback."""
    return ApiError(
        502, f"the reader {reader.identity} failed: {error}", kind="reader_error", code="reader_failed"
    )
