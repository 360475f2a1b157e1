"""White lists tested on their own: without the signals a layer above registers when it is imported (the
market's financing needs and default cases, tested in tests/market), whatever other tests imported."""

from __future__ import annotations

import pytest

from xinyidai.lists import whitelists


@pytest.fixture(autouse=True)
def _no_registered_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whitelists, "NEED_SIGNALS", {})
    monkeypatch.setattr(whitelists, "EXCLUDE_SIGNALS", {})
