"""The wire format of `guidedcot serve`: OpenAI chat requests in, chat completions (or chunks) out.

Question and context come from the ``guidedcot`` extension field of the request
(``{"guidedcot": {"question": ..., "context": ...}}``, what ``extra_body`` of the openai client sends)
or else from the last user message, laid out as labelled sections, in either order::

    Question: Which city is the capital of the country where X was born?
    Context:
    <paragraphs>

A user message without either label is the question itself, with an empty context.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from guidedcot.serve.config import ServeConfig

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_LABEL = re.compile(r"^[ \t]*(question|context)[ \t]*:", re.IGNORECASE | re.MULTILINE)


class ApiError(Exception):
    """An HTTP error with an OpenAI-shaped body: ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatQuery:
    """What one chat request asks: the question, its context and how to answer."""

    question: str
    context: str
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    temperature: float = 0.0
    answer_tokens: int = 32


_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_request(param: str | None, message: str) -> ApiError:
    """A 400 naming the offending field."""
    return ApiError(400, message, param=param, code="invalid_value" if param else None)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object (400 when it is not one)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad_request(None, f"the request body is not valid JSON: {error}") from None
    except RecursionError:
        raise bad_request(None, "the request body is nested too deeply") from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise bad_request(
            None, f"the request body holds a value JSON here cannot read: {str(error)[:120]}"
        ) from None
    if not isinstance(body, dict):
        raise bad_request(None, f"the request body must be a JSON object, not {type(body).__name__}")
    return body


def parse_chat_request(body: dict[str, Any], settings: ServeConfig) -> ChatQuery:
    """Validate a chat completion request; every problem is a 400 that names its field."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_request("model", f"'model' must be a string, got {_kind(model)}")
    question, context = _question_and_context(body)
    if not question.strip():
        raise bad_request(
            "messages",
            "no question: send it in the last user message (after 'Question:') or in guidedcot.question",
        )
    for name, text in (("question", question), ("context", context)):
        if _SURROGATE.search(text):
            raise bad_request(name, f"the {name} holds a lone UTF-16 surrogate (U+D800 to U+DFFF): not text")
    if len(question) > settings.max_question_chars:
        raise bad_request(
            "question",
            f"the question has {len(question)} characters; the limit is {settings.max_question_chars}",
        )
    if len(context) > settings.max_context_chars:
        raise bad_request(
            "context", f"the context has {len(context)} characters; the limit is {settings.max_context_chars}"
        )
    n = _integer(body, "n", 1, low=1, high=settings.max_n)
    stream = _boolean(body, "stream", False)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("stream_options", f"'stream_options' must be an object, got {_kind(options)}")
    include_usage = _boolean(options or {}, "include_usage", False, prefix="stream_options.")
    temperature = _number(body, "temperature", None, low=0.0, high=2.0)
    if temperature is None or (n > 1 and temperature == 0):
        temperature = settings.sc_temperature if n > 1 else 0.0
    limit = settings.answer_tokens
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            limit = min(limit, _integer(body, name, limit, low=1, high=1_000_000))
    return ChatQuery(
        question=question.strip(),
        context=context.strip(),
        n=n,
        stream=stream,
        include_usage=include_usage,
        temperature=temperature,
        answer_tokens=limit,
    )


def split_user_message(text: str) -> tuple[str, str]:
    """(question, context) of a user message laid out with ``Question:`` / ``Context:`` labels."""
    labels = list(_LABEL.finditer(text))
    if not labels:
        return text, ""
    sections: dict[str, str] = {}
    for index, label in enumerate(labels):
        end = labels[index + 1].start() if index + 1 < len(labels) else len(text)
        name = label.group(1).lower()
        sections[name] = (sections.get(name, "") + "\n" + text[label.end() : end]).strip()
    return sections.get("question", ""), sections.get("context", "")


def _question_and_context(body: dict[str, Any]) -> tuple[str, str]:
    extension = body.get("guidedcot")
    if extension is not None:
        if not isinstance(extension, dict):
            raise bad_request("guidedcot", f"'guidedcot' must be an object, got {_kind(extension)}")
        question, context = extension.get("question"), extension.get("context", "")
        if not isinstance(question, str):
            raise bad_request(
                "guidedcot.question", f"'guidedcot.question' must be a string, got {_kind(question)}"
            )
        if not isinstance(context, str):
            raise bad_request(
                "guidedcot.context", f"'guidedcot.context' must be a string, got {_kind(context)}"
            )
        return question, context
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages", "'messages' must be a non-empty list of chat messages")
    user = None
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad_request(where, f"{where} must be an object, got {_kind(message)}")
        role = message.get("role")
        if role not in ROLES:
            raise bad_request(
                f"{where}.role", f"{where}.role must be one of {', '.join(sorted(ROLES))}, got {role!r}"
            )
        text = _content_text(message.get("content"), f"{where}.content")
        if role == "user":
            user = text
    if user is None:
        raise bad_request("messages", "no user message: the question goes in the last user message")
    return split_user_message(user)


def _content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise bad_request(
                    f"{where}[{index}]",
                    f"{where}[{index}] must be a text part ({{'type': 'text', 'text': ...}})",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise bad_request(where, f"{where} must be a string or a list of text parts, got {_kind(content)}")


def _integer(body: dict[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(name, f"'{name}' must be an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise bad_request(name, f"'{name}' must be between {low} and {high}, got {value}")
    return value


def _number(
    body: dict[str, Any], name: str, default: float | None, *, low: float, high: float
) -> float | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(name, f"'{name}' must be a number, got {_kind(value)}")
    if not low <= value <= high:
        raise bad_request(name, f"'{name}' must be between {low} and {high}, got {value}")
    return float(value)


def _boolean(body: dict[str, Any], name: str, default: bool, *, prefix: str = "") -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(prefix + name, f"'{prefix}{name}' must be true or false, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def completion_body(
    *, request_id: str, created: int, model: str, content: str, finish_reason: str,
    usage: dict[str, int], extension: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """A ``chat.completion`` object with one choice and the ``guidedcot`` extension field."""
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage,
        "guidedcot": extension,
    }


def chunk_body(
    *, request_id: str, created: int, model: str, delta: dict[str, Any] | None = None,
    finish_reason: str | None = None, usage: dict[str, int] | None = None,
    extension: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A ``chat.completion.chunk``; with ``delta`` None it carries no choice (the usage chunk)."""
    body: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    if extension is not None:
        body["guidedcot"] = extension
    return body


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: <json>`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()
