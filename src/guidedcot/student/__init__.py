"""The trainable student: loading (full or LoRA) and encoding prompts and rationales for training."""

from guidedcot.student.encoding import (
    IGNORE_INDEX,
    EncodedPrompt,
    encode_prompt,
    encode_rationale_example,
    fit_prompt,
)
from guidedcot.student.loading import Student, load_student

__all__ = [
    "IGNORE_INDEX",
    "EncodedPrompt",
    "Student",
    "encode_prompt",
    "encode_rationale_example",
    "fit_prompt",
    "load_student",
]
