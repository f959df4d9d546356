"""A process that reads reader prompts in a loop, for a profiler to sample: where llama.cpp's prompt
time goes (bench/RESULTS.md, "Where the prompt's time goes").

Run (the embedded default reader, the llama.cpp build `make` installed):

    .venv/bin/python bench/reader_profile.py --prompts 12 &
    perf record -F 499 -g -p $(cat /tmp/reader_profile.pid) -o /tmp/perf.data -- sleep 40
    perf report -i /tmp/perf.data --no-children --sort sym --stdio

It writes its pid to ``--pid-file`` once the server is warm, reads the prompts (distinct HotpotQA dev
prompts, one generated token each, no prefix reuse) and prints their prompt tokens per second.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from reader_speed import Variant, prompt_rate, prompts, start_server

from guidedcot.data.context import ContextMode
from guidedcot.models import resolve_model

logger = logging.getLogger("reader_profile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument(
        "--mode", choices=[m.value for m in ContextMode], default=ContextMode.DISTRACTOR.value
    )
    parser.add_argument("--pid-file", type=Path, default=Path("/tmp/reader_profile.pid"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    gguf = resolve_model(args.model, hf=False).gguf_path
    if gguf is None:
        parser.error(f"{args.model} has no GGUF file")
    server = start_server(Variant("profile", gguf))
    texts = prompts(ContextMode(args.mode), args.prompts, 0)
    prompt_rate(server, texts[:2])  # warm
    args.pid_file.write_text(str(os.getpid()), encoding="utf-8")
    logger.info("warm; pid %d in %s", os.getpid(), args.pid_file)
    logger.info("%d prompts: %.1f prompt tokens/s", len(texts), prompt_rate(server, texts))


if __name__ == "__main__":
    main()
