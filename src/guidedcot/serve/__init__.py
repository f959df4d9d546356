"""`guidedcot serve`: an OpenAI-compatible chat endpoint that puts a student in front of any reader."""

from guidedcot.serve.app import create_app
from guidedcot.serve.config import ServeConfig
from guidedcot.serve.engine import GuidedEngine

__all__ = ["GuidedEngine", "ServeConfig", "create_app"]
