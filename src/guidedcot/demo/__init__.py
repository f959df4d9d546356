"""The whole method end to end on the embedded default (`guidedcot demo`)."""

from guidedcot.demo.config import DemoConfig
from guidedcot.demo.run import DemoResult, run_demo

__all__ = ["DemoConfig", "DemoResult", "run_demo"]
