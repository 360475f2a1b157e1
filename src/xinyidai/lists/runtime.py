"""The lists' chore while the server runs: white lists whose schedule is due are generated and pushed."""

from __future__ import annotations

import logging
from typing import Any

from xinyidai.kit import clock
from xinyidai.kit.chores import every
from xinyidai.lists import whitelists
from xinyidai.network.runtime import context

log = logging.getLogger(__name__)


def chores_once(app: Any) -> None:
    n = app.state.node
    try:
        ctx = context(app)
    except Exception:  # noqa: BLE001 - without a key the lists still go to institutions; peers wait
        ctx = None
    whitelists.run_scheduled(n.db, ctx, clock.now(), node_code=n.settings.node_code)


async def chores(app: Any, every_seconds: int = 60) -> None:
    await every(every_seconds, lambda: chores_once(app), "white-list chores")
