"""`guidedcot serve` for real: SmolLM2 as the student (transformers) in front of a real llama.cpp
reader server (SmolLM2 GGUF), both on 127.0.0.1, driven by the official openai client and httpx."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from tests.conftest import running_llama_server, running_url_process

pytestmark = pytest.mark.slow

KEY_ENV, KEY = "GUIDEDCOT_TEST_SERVE_KEY", "test-key-0123"
QUESTION = "Which city is the capital of France?"
CONTEXT = "Paris is the capital and largest city of France. Lyon is the third-largest city of France."
MESSAGES = [{"role": "user", "content": f"Question: {QUESTION}\nContext:\n{CONTEXT}"}]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def running_guided_server(
    reader_url: str, log: Path, *settings: str
) -> contextlib.AbstractContextManager[tuple[subprocess.Popen[str], str]]:
    """``guidedcot serve`` on a free port: (process, /v1 URL); its log goes to the file ``log``."""
    args = [sys.executable, "-m", "guidedcot.cli.app", "serve", "--student", "smollm2", "--reader", reader_url,
            "--port", "0", "--set", "rationale_tokens=24"]  # fmt: skip
    for setting in settings:
        args += ["--set", setting]
    return running_url_process(args, log=log, env={**os.environ, KEY_ENV: KEY})


@pytest.fixture(scope="module")
def reader_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def reader(reader_port: int) -> Iterator[dict[str, object]]:
    """The reader server; tests may kill it and put a new one on the same port (``holder['process']``)."""
    holder: dict[str, object] = {}
    stack = contextlib.ExitStack()
    process, url = stack.enter_context(running_llama_server("smollm2", port=reader_port))
    holder.update(process=process, url=url, stack=stack)
    yield holder
    stack.close()


@pytest.fixture(scope="module")
def server(
    reader: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    settings = [
        f"api_key_env={KEY_ENV}",
        "max_queue=4",
        "max_batch=4",
        "reader.max_retries=1",
        "body_timeout_s=2",
    ]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with running_guided_server(str(reader["url"]), log, *settings) as running:
        yield running


def client(url: str, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=KEY, **options)  # type: ignore[arg-type]


def test_the_openai_client_gets_a_completion(server: tuple[subprocess.Popen[str], str]) -> None:
    completion = client(server[1]).chat.completions.create(model="guidedcot", messages=MESSAGES)  # type: ignore[arg-type]
    content = completion.choices[0].message.content
    assert content and completion.choices[0].finish_reason in {"stop", "length"}
    extension = completion.model_extra["guidedcot"]  # type: ignore[index]
    assert extension["rationale"] and extension["models"]["reader"].startswith("openai-compatible:")
    assert (
        extension["usage"]["student"]["completion_tokens"] > 0
        and extension["usage"]["reader"]["prompt_tokens"] > 0
    )
    assert completion.usage is not None and completion.usage.total_tokens == sum(
        extension["usage"][m]["total_tokens"] for m in ("student", "reader")
    )


def test_a_streamed_completion_arrives_in_pieces(server: tuple[subprocess.Popen[str], str]) -> None:
    stream = client(server[1]).chat.completions.create(
        model="guidedcot",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2, "the reader's answer streams token by token"
    finish = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert "".join(pieces) == finish.model_extra["guidedcot"]["reader_output"]  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    plain = client(server[1]).chat.completions.create(model="guidedcot", messages=MESSAGES)  # type: ignore[arg-type]
    assert plain.choices[0].message.content == "".join(pieces).strip()  # the same greedy answer


def test_n_gives_self_consistency(server: tuple[subprocess.Popen[str], str]) -> None:
    completion = client(server[1]).chat.completions.create(model="guidedcot", messages=MESSAGES, n=3)  # type: ignore[arg-type]
    extension = completion.model_extra["guidedcot"]  # type: ignore[index]
    assert len(extension["rationales"]) == len(extension["sample_answers"]) == 3
    assert len(set(extension["rationales"])) > 1, "n rationales are sampled, not one greedy copy"
    assert completion.choices[0].message.content == extension["answer"] in extension["sample_answers"]


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    url, auth = server[1], {"Authorization": f"Bearer {KEY}"}
    cases = [
        ({"model": "guidedcot", "messages": [{"role": "user", "content": "Context: no question here"}]}, auth, 400, "messages"),
        ({"messages": MESSAGES, "n": "two"}, auth, 400, "n"),
        ({"messages": [{"role": "user", "content": {"text": "x"}}]}, auth, 400, "messages[0].content"),
        ({"messages": MESSAGES, "temperature": -1}, auth, 400, "temperature"),
        ({"messages": MESSAGES}, {"Authorization": "Bearer wrong"}, 401, None),
        ({"messages": MESSAGES}, {}, 401, None),
    ]  # fmt: skip
    for body, headers, status, param in cases:
        response = httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=60)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert error["param"] == param and error["message"] and KEY not in response.text
    oversize = httpx.post(
        f"{url}/chat/completions", content=b"{" + b" " * 1_100_000, headers=auth, timeout=60
    )
    assert oversize.status_code == 413 and "max_body_bytes" in oversize.json()["error"]["message"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="wrong").models.list()
    assert (
        httpx.post(
            f"{url}/chat/completions", json={"messages": MESSAGES}, headers=auth, timeout=60
        ).status_code
        == 200
    )


def test_hostile_bodies_are_400s_and_a_bad_request_does_not_fail_its_batch_neighbours(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    url, auth = server[1], {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
    deep = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    huge_n = json.dumps({"messages": MESSAGES})[:-1].encode() + b', "n": ' + b"9" * 5000 + b"}"
    surrogate = json.dumps(
        {"messages": [{"role": "user", "content": f"Question: {QUESTION} \ud800"}]}
    ).encode()
    for body, param in ((deep, None), (huge_n, None), (surrogate, "question")):
        response = httpx.post(f"{url}/chat/completions", content=body, headers=auth, timeout=60)
        assert response.status_code == 400, response.text[:300]
        assert response.json()["error"]["param"] == param
    # 3 good requests sent together with the surrogate one (the fixture queues and batches 4): each good one answers
    bodies = [json.dumps({"messages": MESSAGES, "seed": i}).encode() for i in range(3)] + [surrogate]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda b: httpx.post(f"{url}/chat/completions", content=b, headers=auth,
                                                      timeout=300).status_code, bodies))  # fmt: skip
    assert statuses == [200] * 3 + [400]


def test_a_body_shorter_than_its_content_length_gets_a_408_not_a_held_connection(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    host, port = server[1].split("//", 1)[1].split("/", 1)[0].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {KEY}\r\nContent-Length: 5000\r\n\r\n".encode()
            + b'{"messages": ['
        )  # and then nothing more: the server must give up on the body (body_timeout_s=2), not wait forever
        reply = ""
        while (
            "}" not in reply.partition("\r\n\r\n")[2]
        ):  # the headers and the JSON body, in however many pieces
            piece = connection.recv(4096).decode(errors="replace")
            if not piece:
                break
            reply += piece
    assert reply.startswith("HTTP/1.1 408") and "body_timeout_s" in reply, reply[:300]
    auth = {"Authorization": f"Bearer {KEY}"}
    assert (
        httpx.post(
            f"{server[1]}/chat/completions", json={"messages": MESSAGES}, headers=auth, timeout=60
        ).status_code
        == 200
    )


def test_a_bounded_load_sees_only_answers_and_deliberate_429s(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    """6 clients x 5 requests against max_queue 4: every request ends in a 200, and the only other
    status on the way is 429 (retried after its Retry-After)."""
    url, auth = server[1], {"Authorization": f"Bearer {KEY}"}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    questions = [f"Which city is the capital of France? (variant {i})" for i in range(5)]

    def one_client(index: int) -> None:
        with httpx.Client(timeout=120) as http:
            for question in questions:
                body = {"guidedcot": {"question": question, "context": CONTEXT}, "max_tokens": 8}
                for _ in range(600):  # bounded: 600 tries, each 429 waits its Retry-After (1 s)
                    response = http.post(f"{url}/chat/completions", json=body, headers=auth)
                    with lock:
                        statuses[response.status_code] += 1
                    if response.status_code != 429:
                        break
                    time.sleep(float(response.headers["Retry-After"]))

    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert not any(t.is_alive() for t in threads)
    assert statuses[200] == 6 * 5 and set(statuses) <= {200, 429}, statuses
    assert statuses[429] > 0, "6 clients against max_queue 4 must be turned away at times"
    health = httpx.get(f"{url.removesuffix('/v1')}/health", headers=auth).json()
    assert health["in_progress"] == 0


def test_a_killed_reader_gives_502_and_a_restarted_one_serves_again(
    server: tuple[subprocess.Popen[str], str], reader: dict[str, object], reader_port: int
) -> None:
    url, auth = server[1], {"Authorization": f"Bearer {KEY}"}
    result: dict[str, httpx.Response] = {}

    def ask() -> None:
        body = {
            "messages": MESSAGES,
            "n": 4,
        }  # the student writes 4 rationales first: the reader dies meanwhile
        result["response"] = httpx.post(f"{url}/chat/completions", json=body, headers=auth, timeout=120)

    asking = threading.Thread(target=ask)
    asking.start()
    time.sleep(0.3)
    process = reader["process"]
    assert isinstance(process, subprocess.Popen)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    asking.join(timeout=120)
    failed = result["response"]
    assert failed.status_code == 502, failed.text
    message = failed.json()["error"]["message"]
    assert "reader" in message and "openai-compatible:" in message and "Traceback" not in message
    health = httpx.get(f"{url.removesuffix('/v1')}/health", headers=auth)
    assert health.status_code == 503 and health.json()["reader"]["loaded"] is False

    stack = reader["stack"]
    assert isinstance(stack, contextlib.ExitStack)
    new_process, _ = stack.enter_context(running_llama_server("smollm2", port=reader_port))
    reader["process"] = new_process
    again = httpx.post(f"{url}/chat/completions", json={"messages": MESSAGES}, headers=auth, timeout=120)
    assert again.status_code == 200, again.text
    assert httpx.get(f"{url.removesuffix('/v1')}/health", headers=auth).status_code == 200


def test_sigterm_finishes_the_request_in_flight_then_exits(reader: dict[str, object], tmp_path: Path) -> None:
    with running_guided_server(str(reader["url"]), tmp_path / "serve.log", f"api_key_env={KEY_ENV}") as (
        process,
        url,
    ):
        result: dict[str, httpx.Response] = {}
        body = {"messages": MESSAGES, "n": 4}
        auth = {"Authorization": f"Bearer {KEY}"}
        asking = threading.Thread(
            target=lambda: result.update(
                response=httpx.post(f"{url}/chat/completions", json=body, headers=auth, timeout=120)
            )
        )
        asking.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        asking.join(timeout=120)
        assert process.wait(timeout=120) == 0
        assert result["response"].status_code == 200, result["response"].text
        log = (tmp_path / "serve.log").read_text()
    lines = [
        json.loads(line.split("guidedcot.serve: ", 1)[1])
        for line in log.splitlines()
        if "guidedcot.serve: {" in line
    ]
    assert (
        lines and lines[-1]["status"] == 200 and QUESTION not in log
    )  # no prompt text without --log-prompts
    assert Path(sys.executable).exists()


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its socket inodes matched in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_an_embedded_reader_opens_no_port_that_answers_without_the_key(tmp_path: Path) -> None:
    with running_guided_server("smollm2", tmp_path / "serve.log", f"api_key_env={KEY_ENV}") as (process, url):
        own = int(url.rsplit(":", 1)[1].split("/")[0])
        others = listening_ports(process.pid) - {own}
        assert others, "llama.cpp in process listens on a port of its own (streaming reads it)"
        body = {"model": "x", "messages": MESSAGES, "max_tokens": 4}
        for port in others:
            base = f"http://127.0.0.1:{port}"
            assert httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30).status_code == 401
            assert httpx.post(f"{base}/completion", json={"prompt": "hi"}, timeout=30).status_code == 401
            for path in ("/props", "/v1/models", "/slots"):
                assert httpx.get(f"{base}{path}", timeout=30).status_code in (401, 404), path
            wrong = {"Authorization": f"Bearer {KEY}"}  # the served key is not the reader's
            assert (
                httpx.post(f"{base}/v1/chat/completions", json=body, headers=wrong, timeout=30).status_code
                == 401
            )
        streamed = httpx.post(f"{url}/chat/completions", json={**body, "stream": True},
                              headers={"Authorization": f"Bearer {KEY}"}, timeout=120)  # fmt: skip
        assert streamed.status_code == 200 and "data:" in streamed.text  # streaming still reads that port
