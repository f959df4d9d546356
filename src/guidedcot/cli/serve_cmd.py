"""`guidedcot serve`: an OpenAI-compatible endpoint where a student writes and a reader answers."""

from __future__ import annotations

import logging
import signal
import socket
import sys
from typing import Annotated

import typer

from guidedcot.cli.common import ConfigOption, SetOption
from guidedcot.config import load_config
from guidedcot.errors import ConfigError
from guidedcot.llm.factory import build_backend
from guidedcot.prompts import build_templates
from guidedcot.serve import GuidedEngine, ServeConfig, create_app

logger = logging.getLogger(__name__)


def serve_command(
    student: Annotated[
        str | None, typer.Option("--student", help="Student: a trained folder, named model or hub id.")
    ] = None,
    reader: Annotated[
        str | None,
        typer.Option("--reader", help="Reader: named model, .gguf, HF folder, or an http(s)://.../v1 URL."),
    ] = None,
    reader_model: Annotated[
        str | None,
        typer.Option("--reader-model", help="Model name at a reader URL (default: the one it lists)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default 8000; 0 picks a free one).")
    ] = None,
    log_prompts: Annotated[
        bool, typer.Option("--log-prompts", help="Log question, context and rationales with each request.")
    ] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Serve POST /v1/chat/completions, GET /v1/models and GET /health until SIGTERM or Ctrl-C.

    The first line on standard output is the base URL (http://HOST:PORT/v1) once the port is open.
    """
    settings = load_config(ServeConfig, config, set_)
    _plain_logging()
    for name, value in (("host", host), ("port", port)):
        if value is not None:
            setattr(settings, name, value)
    if student:
        settings.student.model = student
    if reader:
        settings.reader.model = reader
    if reader_model:
        settings.reader.http_model = reader_model
    settings.log_prompts = settings.log_prompts or log_prompts
    settings.check()
    listener = _listen(settings.host, settings.port)  # a taken port fails before minutes of loading
    if settings.reader.model.startswith(("http://", "https://")) and not settings.reader.http_model:
        settings.reader.http_model = _only_model(settings.reader.model, settings.reader.api_key_env)
    logger.info("loading the student %s and the reader %s", settings.student.model, settings.reader.model)
    engine = GuidedEngine(
        build_backend(settings.student),
        build_backend(settings.reader),
        build_templates(settings.prompts),
        settings,
    )
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(engine),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        )
    )

    # Before uvicorn takes over the signals (and after it hands them back, re-raising what it caught),
    # SIGTERM and SIGINT mean the same thing: stop accepting, finish the requests in flight, exit 0.
    def stop(*_: object) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, bound_port = listener.getsockname()[:2]
    sys.stdout.write(f"http://{host}:{bound_port}/v1\n")
    sys.stdout.flush()
    logger.info("serving %s at http://%s:%d/v1", settings.model_name, host, bound_port)
    server.run(sockets=[listener])


def _plain_logging() -> None:
    """One plain line per log record on stderr (what log collectors read), at the chosen level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.getLogger().level, handlers=[handler], force=True)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); a clear error when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    listener.listen(2048)
    return listener


def _only_model(base_url: str, api_key_env: str | None) -> str:
    """The one model an endpoint lists (``GET /models``); an error when it lists none or several."""
    import httpx

    from guidedcot.llm.http import auth_headers

    try:
        response = httpx.get(f"{base_url.rstrip('/')}/models", headers=auth_headers(api_key_env), timeout=10)
        names = [entry["id"] for entry in response.json()["data"]]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"cannot list the models of {base_url} ({error}); pass --reader-model") from None
    if len(names) != 1:
        raise ConfigError(
            f"{base_url} lists {len(names)} models ({', '.join(names)}); pick one with --reader-model"
        )
    return names[0]
