"""The embedded defaults, each in one place: which models, which questions, how they are served.

Every config dataclass takes its default from here, so changing the default reader (say) changes
`evaluate`, `distill`, `rl` and `demo` alike.
"""

from __future__ import annotations

READER = "qwen2.5-coder-1.5b-instruct"
"""The reader (and teacher and judge): the "large LM" of the embedded default, served by llama.cpp."""

STUDENT = "smollm2"
"""The student: SmolLM2-135M-Instruct."""

TEACHER_DATASETS = ("hotpotqa:train", "2wiki:dev[100:250]")
"""Training questions: HotpotQA train, and 2Wiki dev records 100-249 (2Wiki has no train split here)."""

EVAL_DATASETS = ("hotpotqa:dev", "2wiki:dev[0:100]")
"""Held-out questions, disjoint from `TEACHER_DATASETS`."""

N_CTX = 4096
"""llama.cpp context tokens per slot."""

N_PARALLEL = 2
"""llama.cpp slots, or requests in flight to an HTTP endpoint."""

BATCH_SIZE = 8
"""transformers generation batch size."""
