"""The whole method end to end on the embedded default (`guidedcot demo`): a small embedded study."""

from guidedcot.demo.config import DemoConfig, load_demo_settings
from guidedcot.demo.run import demo_study

__all__ = ["DemoConfig", "demo_study", "load_demo_settings"]
