"""Model sources: named offline models from PyPI packages, local files and folders, hub ids."""

from guidedcot.models.registry import NAMED_MODELS, NamedModel, find_named_model
from guidedcot.models.sources import ModelState, ResolvedModel, model_state, prepare_named, resolve_model

__all__ = [
    "NAMED_MODELS",
    "ModelState",
    "NamedModel",
    "ResolvedModel",
    "find_named_model",
    "model_state",
    "prepare_named",
    "resolve_model",
]
