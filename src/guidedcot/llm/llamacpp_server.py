"""Serve a GGUF model over llama.cpp's OpenAI-compatible HTTP API (xllamacpp), until interrupted.

``python -m guidedcot.llm.llamacpp_server MODEL [--host 127.0.0.1] [--port 0]`` prints the ``/v1`` base URL
on its first line of standard output once the server answers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from guidedcot import defaults
from guidedcot.errors import GuidedCotError
from guidedcot.llm.llamacpp import server_params, start_server
from guidedcot.models import resolve_model


def main(argv: list[str] | None = None) -> int:
    """Start the server and block until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="named model or .gguf file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--n-ctx", type=int, default=defaults.N_CTX, help="context tokens per slot")
    parser.add_argument(
        "--n-parallel", type=int, default=defaults.N_PARALLEL, help="slots (concurrent requests)"
    )
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's own log lines")
    args = parser.parse_args(argv)

    resolved = resolve_model(args.model, hf=False)
    if resolved.gguf_path is None:
        parser.error(f"{args.model} is not a GGUF model")
    params = server_params(
        resolved.gguf_path, n_ctx=args.n_ctx, n_parallel=args.n_parallel, verbose=args.verbose
    )
    params.hostnames = [args.host]
    params.port = args.port
    try:
        server = start_server(params)
    except GuidedCotError as error:
        parser.exit(2, f"error: {error}\n")
    address = server.listening_address
    if not address.startswith("http"):
        address = f"http://{address}"
    sys.stdout.write(f"{address.rstrip('/')}/v1\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
