"""The synthetic province for demonstrations and tests: `build_demo` (see `build` and `generator`)."""

from xinyidai.demo.build import build_demo
from xinyidai.demo.generator import DEMO_PASSWORD, DemoAccount, DemoDelivery, DemoSummary

__all__ = ["DEMO_PASSWORD", "DemoAccount", "DemoDelivery", "DemoSummary", "build_demo"]
