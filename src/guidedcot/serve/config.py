"""Settings of `guidedcot serve`."""

from __future__ import annotations

from dataclasses import dataclass, field

from guidedcot import defaults
from guidedcot.config import Checked
from guidedcot.llm.config import ModelConfig
from guidedcot.prompts import PromptsConfig


def _student() -> ModelConfig:
    return ModelConfig(model=defaults.STUDENT, backend="transformers")


def _reader() -> ModelConfig:
    return ModelConfig(model=defaults.READER, timeout_s=60.0, max_retries=1)


@dataclass
class ServeConfig(Checked):
    """Settings of `guidedcot serve`."""

    student: ModelConfig = field(default_factory=_student)
    reader: ModelConfig = field(default_factory=_reader)
    host: str = field(default="127.0.0.1", metadata={"help": "Address to listen on."})
    port: int = field(
        default=8000, metadata={"min": 0, "max": 65535, "help": "Port to listen on (0 picks a free one)."}
    )
    model_name: str = field(
        default="guidedcot", metadata={"help": "The model id that /v1/models lists and responses carry."}
    )
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    rationale_tokens: int = field(
        default=128, metadata={"min": 1, "help": "Max new tokens of a student rationale."}
    )
    answer_tokens: int = field(
        default=32,
        metadata={
            "min": 1,
            "help": "Max new tokens of the reader's answer (a request's max_tokens lowers it).",
        },
    )
    sc_temperature: float = field(
        default=0.7,
        metadata={"min": 0, "help": "Rationale temperature for n > 1 when the request sets none."},
    )
    max_n: int = field(
        default=16, metadata={"min": 1, "help": "Largest n (self-consistency samples) a request may ask."}
    )
    max_batch: int = field(
        default=8,
        metadata={"min": 1, "help": "Requests batched together for the student and for the reader."},
    )
    batch_wait_ms: float = field(
        default=5.0,
        metadata={"min": 0, "help": "How long a stage waits for more requests before it runs a batch."},
    )
    reader_batches: int = field(
        default=2,
        metadata={"min": 1, "help": "Reader batches in flight at once (the reader batches further itself)."},
    )
    max_queue: int = field(
        default=64,
        metadata={
            "min": 0,
            "help": "Requests admitted (waiting or running); beyond it: 429 with Retry-After.",
        },
    )
    retry_after_s: int = field(default=1, metadata={"min": 0, "help": "Retry-After seconds of a 429."})
    max_body_bytes: int = field(
        default=1_000_000, metadata={"min": 1, "help": "Largest request body (413 beyond)."}
    )
    body_timeout_s: float = field(
        default=10.0,
        metadata={
            "above": 0,
            "help": "Seconds a request body may take to arrive (408 beyond: a stalled client).",
        },
    )
    max_context_chars: int = field(
        default=100_000, metadata={"min": 1, "help": "Largest context, in characters."}
    )
    max_question_chars: int = field(
        default=4_000, metadata={"min": 1, "help": "Largest question, in characters."}
    )
    api_key_env: str = field(
        default="GUIDEDCOT_API_KEY",
        metadata={"help": "Environment variable with the key every request must send (unset: no key)."},
    )
    log_prompts: bool = field(
        default=False, metadata={"help": "Put question, context and rationale in the request log lines."}
    )
    seed: int = field(
        default=0, metadata={"min": 0, "help": "Sampling seed of rationales (with the sample index)."}
    )
    shutdown_timeout_s: float = field(
        default=60.0,
        metadata={"min": 0, "help": "On SIGTERM, how long requests in flight may take to finish."},
    )
    release_heap: bool = field(
        default=True,
        metadata={
            "help": "After each student batch, hand the heap it freed back to the system (glibc "
            "malloc_trim), so the resident size stays flat under load (bench/RESULTS.md)."
        },
    )
