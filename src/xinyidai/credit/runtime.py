"""The credit evaluation's chore while the server runs: once a day (after 01:00 Beijing time) re-evaluation of
the entities whose records changed since the last run."""

from __future__ import annotations

import logging
from typing import Any

from xinyidai.credit import evaluation
from xinyidai.kit import clock
from xinyidai.kit.chores import every

log = logging.getLogger(__name__)
NIGHTLY_HOUR = 1


def chores_once(app: Any, state: dict[str, Any]) -> None:
    n = app.state.node
    local = clock.now().astimezone(clock.CHINA_TZ)
    if local.hour >= NIGHTLY_HOUR and state.get("evaluated_on") != local.date():
        state["evaluated_on"] = local.date()
        with n.db.session() as s:
            has_run = evaluation.last_done_run(s) is not None
        if has_run:  # the first full run is a person's decision (it can take a while on a large node)
            evaluation.evaluate_changed(n.db, local.date(), "scheduler")


async def chores(app: Any, every_seconds: int = 60) -> None:
    state: dict[str, Any] = {}
    await every(every_seconds, lambda: chores_once(app, state), "credit chores")
