"""Build a `LanguageModel` from a spec: a named model, a local path, a hub id or an endpoint URL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from guidedcot import defaults
from guidedcot.config import member
from guidedcot.errors import GuidedCotError
from guidedcot.llm.cache import CachedLanguageModel, GenerationCache, max_bytes_from_env
from guidedcot.llm.config import Backend, ModelConfig
from guidedcot.llm.types import LanguageModel
from guidedcot.models import resolve_model

logger = logging.getLogger(__name__)


def load_backend(
    spec: str,
    backend: Backend | str = Backend.AUTO,
    *,
    http_model: str | None = None,
    api_key_env: str | None = "OPENAI_API_KEY",
    n_ctx: int = defaults.N_CTX,
    n_parallel: int = defaults.N_PARALLEL,
    batch_size: int = defaults.BATCH_SIZE,
    timeout_s: float = 120.0,
    max_retries: int = 5,
) -> LanguageModel:
    """The backend for ``spec``.

    ``auto`` picks HTTP for an ``http(s)://`` URL, llama.cpp for a named model or a .gguf file,
    and transformers for an HF folder or hub id.
    """
    backend = member(Backend, backend, "backend")
    if spec.startswith(("http://", "https://")) or backend == "http":
        if not spec.startswith(("http://", "https://")):
            raise GuidedCotError(
                f"the http backend needs an endpoint URL like http://host:8000/v1, got {spec!r}"
            )
        from guidedcot.llm.http import HttpLanguageModel

        if not http_model:
            raise GuidedCotError(f"endpoint {spec} needs a model name (the `model` field of each request)")
        return HttpLanguageModel(
            spec,
            http_model,
            api_key_env=api_key_env,
            max_concurrency=n_parallel,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
    wants_gguf = backend == "llamacpp" or (backend == "auto" and not _is_hf(spec))
    resolved = resolve_model(spec, hf=not wants_gguf)
    if wants_gguf:
        if resolved.gguf_path is None:
            raise GuidedCotError(f"llama.cpp needs a GGUF file; {spec!r} is a {resolved.kind} model")
        from guidedcot.llm.llamacpp import LlamaCppLanguageModel

        return LlamaCppLanguageModel(
            resolved.gguf_path, identity=resolved.identity, n_ctx=n_ctx, n_parallel=n_parallel
        )
    from guidedcot.llm.hf import TransformersLanguageModel

    assert resolved.hf_path is not None
    return TransformersLanguageModel(
        resolved.hf_path, identity=resolved.identity, revision=resolved.revision, batch_size=batch_size
    )


def _is_hf(spec: str) -> bool:
    """True for a transformers folder or a hub id (not a named model or a GGUF file)."""
    from guidedcot.models import find_named_model

    if find_named_model(spec):
        return False
    path = Path(spec).expanduser()
    return path.suffix != ".gguf"


def with_cache(model: LanguageModel, cache_path: Path | str | None) -> CachedLanguageModel:
    """Put the persistent cache (or, with None, only accounting) in front of a backend."""
    cache = GenerationCache(cache_path, max_bytes=max_bytes_from_env()) if cache_path else None
    return CachedLanguageModel(model, cache)


def build_backend(settings: ModelConfig) -> LanguageModel:
    """The configured backend, without a cache."""
    return load_backend(
        settings.model,
        settings.backend,
        http_model=settings.http_model,
        api_key_env=settings.api_key_env,
        n_ctx=settings.n_ctx,
        n_parallel=settings.n_parallel,
        batch_size=settings.batch_size,
        timeout_s=settings.timeout_s,
        max_retries=settings.max_retries,
    )


def build_model(settings: ModelConfig, cache_path: Path | None) -> CachedLanguageModel:
    """The configured backend with the generation cache (or, with None, only accounting) in front."""
    return with_cache(build_backend(settings), cache_path)


def token_counter(settings: ModelConfig) -> Callable[[str], int]:
    """Counts tokens with the model's own tokenizer; for an endpoint, about 4 characters a token."""
    if settings.model.startswith(("http://", "https://")):
        logger.warning("%s is an endpoint: context budgets use ~4 characters per token", settings.model)
        return lambda text: (len(text) + 3) // 4
    from transformers import AutoTokenizer

    if settings.backend != "transformers" and not _is_hf(settings.model):
        # The tokenizer alone from the GGUF's metadata: no conversion of the weights to a folder.
        gguf = resolve_model(settings.model, hf=False).gguf_path
        if gguf is not None:
            tokenizer = AutoTokenizer.from_pretrained(str(Path(gguf).parent), gguf_file=Path(gguf).name)
            return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(settings.model).hf_path)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def resolve_cache_path(value: str | None) -> Path | None:
    """``default`` -> $GUIDEDCOT_CACHE/generations.sqlite; ``none``/empty -> no cache; else the path."""
    if value is None or value.lower() in {"", "none", "off", "false"}:
        return None
    if value == "default":
        from guidedcot.models.files import cache_root

        return cache_root() / "generations.sqlite"
    return Path(value).expanduser()
