"""The trainable student: loading (full or LoRA) and encoding prompts and rationales for training."""

from guidedcot.student.encoding import IGNORE_INDEX, encode_prompt, encode_rationale_example
from guidedcot.student.loading import Student, load_student

__all__ = ["IGNORE_INDEX", "Student", "encode_prompt", "encode_rationale_example", "load_student"]
