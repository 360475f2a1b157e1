"""The synthetic province for demonstrations and tests: `build_demo` (see `generator`)."""

from xinyidai.demo.generator import (
    DEMO_PASSWORD,
    DemoAccount,
    DemoDelivery,
    DemoSummary,
    build_demo,
)

__all__ = ["DEMO_PASSWORD", "DemoAccount", "DemoDelivery", "DemoSummary", "build_demo"]
