"""`ModelConfig`: where a model comes from and how it is served (one section of every config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from guidedcot import defaults
from guidedcot.config import Checked


class Backend(StrEnum):
    """What runs a model. ``auto``: an http(s) URL -> http, a GGUF or named model -> llama.cpp, an HF
    folder or hub id -> transformers."""

    AUTO = "auto"
    LLAMACPP = "llamacpp"
    TRANSFORMERS = "transformers"
    HTTP = "http"


@dataclass
class ModelConfig(Checked):
    """Where a model comes from and how it is served."""

    model: str = field(
        metadata={"help": "Named model, .gguf file, HF folder, hub id, or http(s)://.../v1 URL."}
    )
    backend: Backend = field(
        default=Backend.AUTO,
        metadata={
            "help": "auto | llamacpp | transformers | http. auto: URL -> http, GGUF -> llama.cpp, HF -> transformers.",
        },
    )
    http_model: str | None = field(default=None, metadata={"help": "Model name sent to an HTTP endpoint."})
    api_key_env: str | None = field(
        default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the endpoint's API key."}
    )
    n_ctx: int = field(
        default=defaults.N_CTX, metadata={"min": 1, "help": "llama.cpp context tokens per slot."}
    )
    n_parallel: int = field(
        default=defaults.N_PARALLEL,
        metadata={"min": 1, "help": "llama.cpp slots, or requests in flight to an HTTP endpoint."},
    )
    timeout_s: float = field(
        default=120.0, metadata={"above": 0, "help": "Seconds an HTTP request may take."}
    )
    max_retries: int = field(
        default=5,
        metadata={"min": 0, "help": "Retries of a failed HTTP request (429, 5xx, connection errors)."},
    )
    batch_size: int = field(
        default=defaults.BATCH_SIZE, metadata={"min": 1, "help": "transformers generation batch size."}
    )
