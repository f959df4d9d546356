"""`guidedcot serve` in process with scripted models: the wire format, every error, batching, 429."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from starlette.testclient import TestClient

from guidedcot.llm import FakeLanguageModel, Generation, GenerationRequest
from guidedcot.llm.fake import request_text
from guidedcot.prompts import build_templates
from guidedcot.serve import GuidedEngine, ServeConfig, create_app
from guidedcot.serve.batching import Batcher
from guidedcot.serve.protocol import ApiError, parse_chat_request, split_user_message

QUESTION = "Which city is the capital of France?"
CONTEXT = "Paris is the capital and largest city of France."
MESSAGE = {"role": "user", "content": f"Question: {QUESTION}\nContext:\n{CONTEXT}"}


def student_text(request: GenerationRequest) -> str:
    return f"The context says Paris (sample {request.sample_index}, t={request.temperature})."


def reader_text(request: GenerationRequest) -> str:
    return (
        "Paris"
        if "sample 0" in request_text(request)
        else "Lyon"
        if "sample 1" in request_text(request)
        else "Paris"
    )


class FailingReader(FakeLanguageModel):
    """A reader that fails while ``broken`` is set."""

    broken = False

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        if self.broken:
            raise ConnectionError("connection refused")
        return super().generate(requests)


def make_client(monkeypatch: pytest.MonkeyPatch | None = None, reader=None, **changes: object) -> TestClient:
    settings = ServeConfig(**changes)  # type: ignore[arg-type]
    engine = GuidedEngine(
        FakeLanguageModel(student_text, name="student"),
        reader or FakeLanguageModel(reader_text, name="reader"),
        build_templates(),
        settings,
    )
    return TestClient(create_app(engine))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as client:
        yield client


def test_a_completion_has_the_answer_and_the_extension(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={"model": "guidedcot", "messages": [MESSAGE]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Paris"}
    extension = body["guidedcot"]
    assert extension["rationale"].startswith("The context says Paris (sample 0, t=0.0)")
    assert extension["answer"] == "Paris"
    assert extension["prompt_versions"]["student"].startswith("student-v")
    assert extension["models"] == {"student": "fake:student", "reader": "fake:reader"}
    usage, per_model = body["usage"], extension["usage"]
    assert (
        usage["total_tokens"]
        == per_model["student"]["total_tokens"] + per_model["reader"]["total_tokens"]
        > 0
    )
    assert response.headers["x-request-id"] == body["id"]


def test_the_extension_field_and_the_message_layout_give_the_same_question(client: TestClient) -> None:
    by_field = client.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "ignored"}],
            "guidedcot": {"question": QUESTION, "context": CONTEXT},
        },
    ).json()
    by_message = client.post("/v1/chat/completions", json={"messages": [MESSAGE]}).json()
    assert by_field["guidedcot"]["rationale"] == by_message["guidedcot"]["rationale"]


def test_n_samples_vote(client: TestClient) -> None:
    body = client.post("/v1/chat/completions", json={"messages": [MESSAGE], "n": 3}).json()
    extension = body["guidedcot"]
    assert extension["sample_answers"] == ["Paris", "Lyon", "Paris"]
    assert body["choices"][0]["message"]["content"] == extension["answer"] == "Paris"
    assert len(set(extension["rationales"])) == 3 and "t=0.7" in extension["rationales"][1]


@pytest.mark.parametrize("n", [1, 2])
def test_a_stream_is_openai_server_sent_events(client: TestClient, n: int) -> None:
    body = {"messages": [MESSAGE], "stream": True, "n": n, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Paris"
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finish[0]["guidedcot"]["answer"] == "Paris"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({}, 400, "messages"),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "user", "content": "  "}]}, 400, "messages"),
        ({"messages": [{"role": "system", "content": "hi"}]}, 400, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "messages[0].content[0]"),
        ({"messages": [MESSAGE], "n": "3"}, 400, "n"),
        ({"messages": [MESSAGE], "n": 0}, 400, "n"),
        ({"messages": [MESSAGE], "n": 99}, 400, "n"),
        ({"messages": [MESSAGE], "temperature": "hot"}, 400, "temperature"),
        ({"messages": [MESSAGE], "stream": "yes"}, 400, "stream"),
        ({"messages": [MESSAGE], "max_tokens": 0}, 400, "max_tokens"),
        ({"messages": [MESSAGE], "model": 7}, 400, "model"),
        ({"guidedcot": {"question": 3}}, 400, "guidedcot.question"),
        ({"guidedcot": {"question": "q", "context": ["a"]}}, 400, "guidedcot.context"),
        ({"guidedcot": {"question": "q", "context": "x" * 100_001}}, 400, "context"),
        ({"messages": [{"role": "user", "content": "Question: a\ud800 b\nContext:\nc"}]}, 400, "question"),
        ({"guidedcot": {"question": "q", "context": "lone \udc00 half"}}, 400, "context"),
    ],
)
def test_bad_requests_get_a_400_that_names_the_field(
    client: TestClient, body: dict, status: int, param: str
) -> None:
    # the body as ASCII JSON: a lone surrogate travels as its \\u escape, as a client's JSON would send it
    response = client.post("/v1/chat/completions", content=json.dumps(body).encode())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]
    assert client.post("/v1/chat/completions", json={"messages": [MESSAGE]}).status_code == 200


def test_a_body_nested_too_deeply_or_with_a_huge_integer_is_a_400(client: TestClient) -> None:
    deep = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    huge = b'{"messages": [{"role": "user", "content": "Question: q"}], "n": ' + b"9" * 5000 + b"}"
    for body, words in ((deep, "nested too deeply"), (huge, "cannot read")):
        response = client.post("/v1/chat/completions", content=body)
        assert response.status_code == 400 and words in response.json()["error"]["message"], response.text
    assert client.post("/v1/chat/completions", json={"messages": [MESSAGE]}).status_code == 200


def test_a_request_id_is_echoed_only_when_it_is_short_and_plain(client: TestClient) -> None:
    for given, kept in (("ok-id_1.2:3", True), ("x" * 65, False), ("a<script>", False), ("a b", False)):
        response = client.post(
            "/v1/chat/completions", json={"messages": [MESSAGE]}, headers={"x-request-id": given}
        )
        assert response.status_code == 200
        assert (response.json()["id"] == given) == kept and response.headers[
            "x-request-id"
        ] == response.json()["id"]
        assert kept or response.json()["id"].startswith("chatcmpl-")


def test_a_body_that_is_not_json_or_too_large(client: TestClient) -> None:
    assert client.post("/v1/chat/completions", content=b"{not json").status_code == 400
    assert (
        client.post("/v1/chat/completions", content=b"[1, 2]")
        .json()["error"]["message"]
        .startswith("the request body must be a JSON object")
    )
    too_large = client.post("/v1/chat/completions", content=b" " * 1_000_001)
    assert too_large.status_code == 413 and "max_body_bytes" in too_large.json()["error"]["message"]


def test_unknown_routes_and_methods_get_json_errors(client: TestClient) -> None:
    assert client.get("/v1/nothing").json()["error"]["message"] == "GET /v1/nothing: Not Found"
    assert client.get("/v1/chat/completions").status_code == 405


def test_models_and_health(client: TestClient) -> None:
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["guidedcot"]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["student"]["loaded"] and health["reader"]["loaded"]


def test_an_api_key_guards_every_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUIDEDCOT_TEST_KEY", "s3cret")
    with make_client(api_key_env="GUIDEDCOT_TEST_KEY") as client:
        for method, path in (("GET", "/health"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions")):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                response = client.request(method, path, headers=headers, json={"messages": [MESSAGE]})
                assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
                assert "s3cret" not in response.text
        good = {"Authorization": "Bearer s3cret"}
        assert (
            client.post("/v1/chat/completions", headers=good, json={"messages": [MESSAGE]}).status_code == 200
        )


def test_a_full_house_gets_429_with_retry_after() -> None:
    with make_client(max_queue=0, retry_after_s=3) as client:
        response = client.post("/v1/chat/completions", json={"messages": [MESSAGE]})
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_a_failing_reader_gives_502_naming_it_and_the_server_recovers() -> None:
    reader = FailingReader(reader_text, name="flaky-reader")
    with make_client(reader=reader) as client:
        reader.broken = True
        for body in ({"messages": [MESSAGE]}, {"messages": [MESSAGE], "stream": True}):
            response = client.post("/v1/chat/completions", json=body)
            assert response.status_code == 502, response.text
            message = response.json()["error"]["message"]
            assert (
                "fake:flaky-reader" in message
                and "connection refused" in message
                and "Traceback" not in message
            )
        reader.broken = False
        assert client.post("/v1/chat/completions", json={"messages": [MESSAGE]}).status_code == 200


def test_the_request_log_has_no_prompt_text_unless_asked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="guidedcot.serve")
    for log_prompts in (False, True):
        caplog.clear()
        with make_client(log_prompts=log_prompts) as client:
            client.post("/v1/chat/completions", json={"messages": [MESSAGE]})
        [line] = [r.getMessage() for r in caplog.records if r.name == "guidedcot.serve"]
        record = json.loads(line)
        assert record["status"] == 200 and record["student_s"] >= 0 and record["reader_prompt_tokens"] > 0
        assert (QUESTION in line) is log_prompts and (CONTEXT in line) is log_prompts


def test_the_message_layout() -> None:
    assert split_user_message(f"Context:\n{CONTEXT}\n\nQuestion: {QUESTION}") == (QUESTION, CONTEXT)
    assert split_user_message(f"question : {QUESTION}\ncontext: {CONTEXT}") == (QUESTION, CONTEXT)
    assert split_user_message(QUESTION) == (QUESTION, "")
    with pytest.raises(ApiError) as error:
        parse_chat_request({"messages": [{"role": "user", "content": f"Context: {CONTEXT}"}]}, ServeConfig())
    assert (error.value.status, error.value.param) == (
        400,
        "messages",
    ) and "no question" in error.value.message


def test_n_over_one_samples_at_the_sc_temperature() -> None:
    query = parse_chat_request(
        {"messages": [MESSAGE], "n": 3, "temperature": 0}, ServeConfig(sc_temperature=0.9)
    )
    assert (query.n, query.temperature) == (3, 0.9)
    assert parse_chat_request({"messages": [MESSAGE], "max_tokens": 500}, ServeConfig()).answer_tokens == 32


def test_the_batcher_runs_concurrent_items_together_and_fails_only_the_item_that_raises() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def process(items: Sequence[int]) -> list[int]:
        with lock:
            seen.append(len(items))
        time.sleep(0.05)
        if -1 in items:
            raise ValueError("bad item")
        return [i * 10 for i in items]

    async def main() -> tuple[list[object], list[object]]:
        batcher: Batcher[int, int] = Batcher(process, max_batch=4, wait_s=0.02)
        batcher.start()
        try:
            first = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
            second = await asyncio.gather(batcher.submit(-1), batcher.submit(5), return_exceptions=True)
        finally:
            await batcher.stop()
        return list(first), list(second)

    first, second = asyncio.run(main())
    assert [b.output for b in first] == [i * 10 for i in range(10)]  # type: ignore[attr-defined]
    assert seen[:3] == [4, 4, 2] and max(b.batch_size for b in first) == 4  # type: ignore[attr-defined]
    assert isinstance(second[0], ValueError)  # the bad item alone fails; its batch neighbour is answered
    assert second[1].output == 50 and second[1].batch_size == 1  # type: ignore[union-attr]
    assert seen[-3:] in ([2, 1, 1], [2, 1, 1][::-1])  # the batch of two, then each item alone


@pytest.mark.parametrize("release", [True, False])
def test_each_student_batch_hands_its_freed_heap_back_unless_told_not_to(
    release: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import guidedcot.serve.engine as engine_module

    calls: list[int] = []
    monkeypatch.setattr(engine_module, "release_free_heap", lambda: calls.append(1) or True)
    with make_client(release_heap=release) as client:
        for _ in range(3):
            body = {"model": "guidedcot", "messages": [MESSAGE]}
            assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert len(calls) == (3 if release else 0)
