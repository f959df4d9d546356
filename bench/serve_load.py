"""Load on `guidedcot serve` against calling the two models directly, side by side in one run.

Both modes answer the same 8 concurrent clients x R requests (HotpotQA dev questions, gold context)
with the same student (SmolLM2 through transformers) and the same reader (a llama.cpp server with
SmolLM2 GGUF on 127.0.0.1):
- direct: each client thread calls the student (one model, so a lock) and then the reader itself;
- served: each client thread POSTs to `guidedcot serve`, which batches the student and the reader.
Per mode: latency p50 / p95 per request, throughput (requests/s), statuses. Loopback only, bounded.

``--memory ROUNDS``: instead, the served mode only, ROUNDS rounds of clients x requests each, and the
resident size of the `guidedcot serve` process after each round (does it plateau?); ``--serve-set
KEY=VALUE`` passes settings to the server (``release_heap=false`` for the behaviour before).

Run: ``.venv/bin/python bench/serve_load.py [--clients 8 --requests 25 --rationale-tokens 64]``, or
``.venv/bin/python bench/serve_load.py --memory 12 --clients 10 --requests 5 --rationale-tokens 16``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from guidedcot.data import ContextMode, build_context
from guidedcot.data.discovery import resolve_data_dir
from guidedcot.data.selection import select_examples
from guidedcot.llm.config import ModelConfig
from guidedcot.llm.factory import build_backend
from guidedcot.pipeline import Answerer, Question, TokenLimits
from guidedcot.prompts import build_templates


@contextlib.contextmanager
def running(args: list[str], log: Path, *, stop_s: float) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A server process (`start`) for the ``with`` block, terminated after it."""
    process, url = start(args, log)
    try:
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=stop_s)


def start(args: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """A server process whose first line of output is its /v1 URL."""
    with log.open("w") as log_file:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log_file, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit(f"{args[:4]} did not start: {log.read_text()[-1500:]}")
    return process, url


def run_clients(clients: int, questions: list[Question], ask: Callable[[Question], int]) -> dict[str, object]:
    """``clients`` threads, each asking every question in turn; latencies, statuses, wall time."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client() -> None:
        for question in questions:
            started = time.perf_counter()
            status = ask(question)
            with lock:
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=20)
    return {"p50": statistics.median(latencies), "p95": cuts[18], "rps": len(latencies) / wall, "wall": wall,
            "statuses": dict(statuses)}  # fmt: skip


def resident_gb(pid: int) -> float:
    """The resident set size of process ``pid`` in GB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e9
    raise RuntimeError(f"no VmRSS for process {pid}")


def memory_rounds(
    rounds: int, clients: int, questions: list[Question], serve: subprocess.Popen[str], url: str
) -> list[tuple[int, float, dict[int, int]]]:
    """(requests answered so far, the server's resident GB, statuses) after each round; round r asks
    the r-th slice of ``questions`` (every client the same slice)."""
    http = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=clients))
    rows = [(0, resident_gb(serve.pid), {})]
    done, size = 0, len(questions) // rounds
    for round_index in range(rounds):
        chunk = questions[round_index * size : (round_index + 1) * size]
        result = run_clients(clients, chunk, lambda q: served_status(http, url, q))
        done += sum(result["statuses"].values())  # type: ignore[attr-defined]
        rows.append((done, resident_gb(serve.pid), result["statuses"]))  # type: ignore[arg-type]
        print(f"{done} requests: {rows[-1][1]:.3f} GB {rows[-1][2]}", file=sys.stderr, flush=True)
    return rows


def served_status(http: httpx.Client, url: str, question: Question) -> int:
    """POST one question to `guidedcot serve`; the status."""
    body = {"guidedcot": {"question": question.question, "context": question.context}}
    return http.post(f"{url}/chat/completions", json=body).status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25, help="requests per client")
    parser.add_argument("--rationale-tokens", type=int, default=64)
    parser.add_argument("--memory", type=int, default=0, metavar="ROUNDS", help="resident size over rounds")
    parser.add_argument("--serve-set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    data_dir = resolve_data_dir(None)
    count = args.requests * max(1, args.memory)  # --memory: distinct questions every round
    examples = select_examples("hotpotqa:dev", data_dir, split="dev", limit=count).examples
    questions = [
        Question(id=e.id, question=e.question, context=build_context(e, ContextMode.GOLD).text)
        for e in examples
    ]
    folder = Path(tempfile.mkdtemp(prefix="serve-load-"))
    reader_args = [sys.executable, "-m", "guidedcot.llm.llamacpp_server", "smollm2", "--n-ctx", "2048",
                   "--n-parallel", "4"]  # fmt: skip
    results: dict[str, dict[str, object]] = {}
    with running(reader_args, folder / "reader.log", stop_s=60) as (_, reader_url):
        serve_args = [sys.executable, "-m", "guidedcot.cli.app", "serve", "--student", "smollm2", "--reader",
                      reader_url, "--reader-model", "smollm2", "--port", "0", "--set",
                      f"rationale_tokens={args.rationale_tokens}", "--set", f"max_batch={args.clients}", "--set",
                      "reader.n_parallel=4", *(a for setting in args.serve_set for a in ("--set", setting))]  # fmt: skip
        if args.memory:
            with running(serve_args, folder / "serve.log", stop_s=120) as (serve_process, serve_url):
                rows = memory_rounds(args.memory, args.clients, questions, serve_process, serve_url)
            print_memory(rows, args)
            return
        reader_settings = ModelConfig(model=reader_url, http_model="smollm2", n_parallel=4, max_retries=1)
        answerer = Answerer(
            reader=build_backend(reader_settings),
            templates=build_templates(),
            student=build_backend(ModelConfig(model="smollm2", backend="transformers")),
            limits=TokenLimits(rationale_tokens=args.rationale_tokens),
        )
        student_lock = threading.Lock()

        def direct(question: Question) -> int:
            with student_lock:
                [[draft]] = answerer.write_rationales([question])
            answerer.read_rationales([question], [draft.text.strip()])
            return 200

        results["direct"] = run_clients(args.clients, questions, direct)
        with running(serve_args, folder / "serve.log", stop_s=120) as (_, serve_url):
            http = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=args.clients))
            results["served"] = run_clients(
                args.clients, questions, lambda q: served_status(http, serve_url, q)
            )

    print(f"\n{args.clients} clients x {args.requests} requests, rationale <= {args.rationale_tokens} tokens, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print("| mode | p50 s | p95 s | requests/s | wall s | statuses |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for mode, r in results.items():
        print(
            f"| {mode} | {r['p50']:.2f} | {r['p95']:.2f} | {r['rps']:.3f} | {r['wall']:.0f} | {r['statuses']} |"
        )
    ratio = float(results["served"]["rps"]) / float(results["direct"]["rps"])  # type: ignore[arg-type]
    print(f"served / direct throughput: {ratio:.2f}x")


def print_memory(rows: list[tuple[int, float, dict[int, int]]], args: argparse.Namespace) -> None:
    """The resident-size table of ``--memory``, as Markdown."""
    print(f"\n`guidedcot serve` {' '.join(args.serve_set) or '(defaults)'}: {args.clients} clients x "
          f"{args.requests} requests a round, rationale <= {args.rationale_tokens} tokens")  # fmt: skip
    print("| requests answered | resident GB | statuses of the round |")
    print("| ---: | ---: | --- |")
    for done, gb, statuses in rows:
        print(f"| {done} | {gb:.3f} | {statuses or ''} |")


if __name__ == "__main__":
    main()
