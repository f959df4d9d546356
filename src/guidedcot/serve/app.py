"""The HTTP routes of `guidedcot serve` (Starlette): chat completions, models, health.

Every route checks the API key when one is set, every error is an OpenAI-shaped JSON body, and
every request leaves one structured log line (id, status, seconds per stage, tokens; prompt text
only with ``log_prompts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from guidedcot.llm.streaming import StreamChunk
from guidedcot.pipeline import Question
from guidedcot.prompts import extract_answer
from guidedcot.serve.engine import Drafts, GuidedEngine, reader_error
from guidedcot.serve.protocol import (
    ApiError,
    ChatQuery,
    chunk_body,
    completion_body,
    parse_chat_request,
    parse_json,
    sse,
)

logger = logging.getLogger("guidedcot.serve")
Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]


def create_app(engine: GuidedEngine) -> Starlette:
    """The ASGI application around a loaded ``engine``; its stages start and stop with the app."""
    settings = engine.settings
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", guarded(chat_completions), methods=["POST"]),
            Route("/v1/models", guarded(models), methods=["GET"]),
            Route("/health", guarded(health), methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
    return app


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Start the engine's stages with the app; stop them (finishing what is in flight) with it."""
    engine: GuidedEngine = app.state.engine
    engine.start()
    try:
        yield
    finally:
        await engine.stop()


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id(given: str | None) -> str:
    """The client's ``x-request-id`` where it is 1-64 of ``A-Za-z0-9._:-`` (it is echoed in headers, ids
    and logs), else a fresh ``chatcmpl-<uuid>``."""
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return f"chatcmpl-{uuid.uuid4().hex}"


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The route around ``handler``: the API key, OpenAI-shaped errors, the request id and its log line."""

    async def route(request: Request) -> Response:
        record: dict[str, Any] = {"id": request_id(request.headers.get("x-request-id"))}
        record.update(path=request.url.path, started=time.perf_counter())
        try:
            _authorize(request, request.app.state.api_key)
            response = await handler(request, record)
        except ApiError as error:
            record["error"] = error.message
            response = error_response(error)
        except Exception as error:  # a bug: the log gets the traceback, the client a short message
            logger.exception("request %s failed", record["id"])
            record["error"] = f"{type(error).__name__}: {error}"
            response = error_response(
                ApiError(
                    500,
                    f"internal error (request {record['id']}); see the server log",
                    kind="server_error",
                )
            )
        response.headers["x-request-id"] = record["id"]
        if not isinstance(response, StreamingResponse):  # a stream logs when it ends
            _log(record, response.status_code)
        return response

    return route


async def chat_completions(request: Request, record: dict[str, Any]) -> Response:
    """POST /v1/chat/completions: the student drafts, the reader answers (streamed or whole)."""
    engine: GuidedEngine = request.app.state.engine
    settings = engine.settings
    body = parse_json(await _read_body(request, settings.max_body_bytes, settings.body_timeout_s))
    query = parse_chat_request(body, settings)
    question = Question(id=record["id"], question=query.question, context=query.context)
    record.update(
        n=query.n,
        stream=query.stream,
        question_chars=len(query.question),
        context_chars=len(query.context),
    )
    if settings.log_prompts:
        record.update(question=query.question, context=query.context)
    engine.admit()
    released = False
    try:
        drafts = await engine.draft(question, query)
        record.update(student_s=round(drafts.run_s, 4), student_batch=drafts.batch_size)
        if settings.log_prompts:
            record["rationales"] = drafts.texts
        if query.stream and query.n == 1:
            chunks = engine.stream(question, query, drafts.texts[0])
            try:
                first = await anext(chunks)
            except Exception as error:
                raise reader_error(engine.reader, error) from error
            released = True  # the stream releases when it ends
            return StreamingResponse(
                _streamed(engine, question, query, drafts, first, chunks, record),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        reading = await engine.read(question, query, drafts)
        record.update(reader_s=round(reading.run_s, 4), reader_batch=reading.batch_size)
        content = reading.outputs[0].text.strip() if query.n == 1 else reading.answer
        finish = reading.outputs[0].finish_reason if query.n == 1 else "stop"
        extension = _extension(engine, query, drafts, reading.outputs, reading.answers, reading.answer)
        record.update(_token_fields(extension))
        if query.stream:
            return StreamingResponse(
                _replayed(settings.model_name, query, content, finish, extension, record),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return JSONResponse(
            completion_body(
                request_id=record["id"], created=int(time.time()), model=settings.model_name,
                content=content, finish_reason=finish, usage=_usage(extension), extension=extension,
            )
        )  # fmt: skip
    finally:
        if not released:
            engine.release()


async def _streamed(
    engine: GuidedEngine, question: Question, query: ChatQuery, drafts: Drafts, first: StreamChunk,
    rest: AsyncIterator[StreamChunk], record: dict[str, Any],
) -> AsyncIterator[bytes]:  # fmt: skip
    """The reader's deltas as they come, then the finish chunk with the extension, then usage."""
    reader_started, status = time.perf_counter(), 200
    head = {"request_id": record["id"], "created": int(time.time()), "model": engine.settings.model_name}
    try:
        yield sse(chunk_body(**head, delta={"role": "assistant", "content": ""}))
        final = None
        chunk: StreamChunk | None = first
        while chunk is not None:
            if chunk.final is not None:
                final = chunk.final
            elif chunk.text:
                yield sse(chunk_body(**head, delta={"content": chunk.text}))
            chunk = await anext(rest, None)
        assert final is not None, "a stream ends with its whole generation"
        answer = extract_answer(final.text, question.question)
        extension = _extension(engine, query, drafts, [final], [answer], answer)
        record.update(reader_s=round(time.perf_counter() - reader_started, 4), **_token_fields(extension))
        yield sse(chunk_body(**head, delta={}, finish_reason=final.finish_reason, extension=extension))
        if query.include_usage:
            yield sse(chunk_body(**head, usage=_usage(extension)))
    except Exception as error:  # headers are gone: the error travels as an event
        status = 502
        failure = reader_error(engine.reader, error)
        record["error"] = failure.message
        yield sse(failure.body())
    finally:
        engine.release()
        _log(record, status)
    yield sse("[DONE]")


async def _replayed(
    model_name: str,
    query: ChatQuery,
    content: str,
    finish: str,
    extension: dict[str, Any],
    record: dict[str, Any],
) -> AsyncIterator[bytes]:
    """A finished answer (n > 1: the majority) as a stream of chunks."""
    head = {"request_id": record["id"], "created": int(time.time()), "model": model_name}
    yield sse(chunk_body(**head, delta={"role": "assistant", "content": ""}))
    yield sse(chunk_body(**head, delta={"content": content}))
    yield sse(chunk_body(**head, delta={}, finish_reason=finish, extension=extension))
    if query.include_usage:
        yield sse(chunk_body(**head, usage=_usage(extension)))
    yield sse("[DONE]")
    _log(record, 200)


async def models(request: Request, record: dict[str, Any]) -> Response:
    """GET /v1/models: the one model this server answers as."""
    settings = request.app.state.engine.settings
    return JSONResponse(
        {
            "object": "list",
            "data": [{"id": settings.model_name, "object": "model", "created": 0, "owned_by": "guidedcot"}],
        }
    )


async def health(request: Request, record: dict[str, Any]) -> Response:
    """GET /health: 200 when the student is loaded and the reader answers, else 503."""
    engine: GuidedEngine = request.app.state.engine
    reader_ok, detail = await engine.reader_health()
    body = {
        "status": "ok" if reader_ok else "unavailable",
        "student": {"model": engine.student.identity, "loaded": True},
        "reader": {"model": engine.reader.identity, "loaded": reader_ok, "detail": detail},
        "in_progress": engine.in_house,
    }
    return JSONResponse(body, status_code=200 if reader_ok else 503)


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's own HTTP errors (unknown route, wrong method) as OpenAI-shaped JSON."""
    assert isinstance(error, HTTPException)
    return error_response(
        ApiError(
            error.status_code,
            f"{request.method} {request.url.path}: {error.detail}",
            kind="invalid_request_error",
        )
    )


def error_response(error: ApiError) -> JSONResponse:
    """The JSON response of an `ApiError`."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _authorize(request: Request, api_key: str | None) -> None:
    if api_key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_key.encode()):
        raise ApiError(
            401, "invalid or missing API key: send 'Authorization: Bearer <key>'", code="invalid_api_key"
        )


async def _read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refused past ``limit`` bytes (413) or when it has not all come in ``timeout_s`` (408:
    a Content-Length longer than what is sent would otherwise hold the connection open)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_limited(request, limit)
    except TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {timeout_s:g} s (body_timeout_s)",
            code="body_timeout",
        ) from None


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            f"the request body has {declared} bytes; the limit is {limit} (max_body_bytes)",
            code="body_too_large",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, f"the request body exceeds {limit} bytes (max_body_bytes)", code="body_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _extension(
    engine: GuidedEngine,
    query: ChatQuery,
    drafts: Drafts,
    outputs: list[Any],
    answers: list[str],
    answer: str,
) -> dict[str, Any]:
    """The ``guidedcot`` field: rationales, answers, models, prompt versions and per-model usage."""
    extension: dict[str, Any] = {
        "answer": answer,
        "rationale": drafts.texts[0],
        "reader_output": outputs[0].text,
        "models": {"student": engine.student.identity, "reader": engine.reader.identity},
        "prompt_versions": {
            "student": engine.answerer.templates["student"].version,
            "reader": engine.answerer.templates["guided"].version,
        },
        "usage": {
            "student": _tokens(drafts.generations),
            "reader": _tokens(outputs),
        },
    }
    if query.n > 1:
        extension.update(
            rationales=drafts.texts, sample_answers=answers, reader_outputs=[g.text for g in outputs]
        )
    return extension


def _tokens(generations: list[Any]) -> dict[str, int]:
    prompt = sum(g.prompt_tokens for g in generations)
    completion = sum(g.completion_tokens for g in generations)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _usage(extension: dict[str, Any]) -> dict[str, int]:
    """The standard usage field: both models' tokens added up (each is in the extension)."""
    student, reader = extension["usage"]["student"], extension["usage"]["reader"]
    return {key: student[key] + reader[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _token_fields(extension: dict[str, Any]) -> dict[str, int]:
    usage = extension["usage"]
    return {
        f"{model}_{key}": usage[model][key]
        for model in ("student", "reader")
        for key in ("prompt_tokens", "completion_tokens")
    }


def _log(record: dict[str, Any], status: int) -> None:
    started = record.pop("started")
    record.update(status=status, total_s=round(time.perf_counter() - started, 4))
    logger.info(json.dumps(record, ensure_ascii=False))
