"""Data governance's chores while the node runs: pulling the sources that are due (every minute; each source
keeps its own schedule and backoff), the whole rule set once a Beijing day after 02:00, and the tickets'
reminders and escalation once a day."""

from __future__ import annotations

import logging
from typing import Any

from xinyidai.kit import clock
from xinyidai.kit.chores import every
from xinyidai.kit.notify import make_notifier
from xinyidai.quality import runs, sources, tickets

log = logging.getLogger(__name__)
SCHEDULER = "scheduler"


def chores_once(app: Any, state: dict[str, Any]) -> dict[str, Any]:
    n = app.state.node
    if "notifier" not in state:
        state["notifier"] = make_notifier(n.settings.notifier, n.settings.var_dir)
    done: dict[str, Any] = {"pulled": sources.pull_due(n.db, n.catalog, n.settings.var_dir, SCHEDULER,
                                                       state["notifier"])}
    today = clock.today()
    if state.get("tickets_on") != today:
        with n.db.write_lock, n.db.session() as s:
            done["escalated"] = tickets.escalate_overdue(s, today, state["notifier"])
        state["tickets_on"] = today
    done["run"] = runs.nightly(n.db, n.catalog, SCHEDULER)
    if done["pulled"] or done.get("escalated") or done["run"]:
        log.info("quality chores: %s", done)
    return done


async def chores(app: Any, every_seconds: int = 60) -> None:
    state: dict[str, Any] = {}
    await every(every_seconds, lambda: chores_once(app, state), "quality chores")
