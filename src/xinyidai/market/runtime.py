"""The market's chores while the server runs, every minute: the service-level clock of applications
(breaches flagged, expiries), needs past their date, post-loan alerts from the records that arrived; once a
day, loan outcomes for the scorecards. (Products and loans go to the parent node with the relay's own
rounds: `envelopes` registers its collector there.)"""

from __future__ import annotations

import logging
from typing import Any

from xinyidai.kit import clock
from xinyidai.kit.chores import every
from xinyidai.market import alerts, applications, demands, envelopes, loans, signals  # noqa: F401 - they register their envelope kinds, collector, list signals

log = logging.getLogger(__name__)


def chores_once(app: Any, state: dict[str, Any]) -> dict[str, Any]:
    n = app.state.node
    done: dict[str, Any] = {}
    with n.db.write_lock, n.db.session() as s:
        done["sla"] = applications.sla_scan(s, n.catalog)
        done["demands_expired"] = demands.expire_due(s)
    with n.db.write_lock, n.db.session() as s:
        done["alerts"] = alerts.scan(s)
    today = clock.today()
    if state.get("outcomes_on") != today:
        state["outcomes_on"] = today
        with n.db.write_lock, n.db.session() as s:
            done["outcomes"] = loans.sync_outcomes(s)
    return done


async def chores(app: Any, every_seconds: int = 60) -> None:
    state: dict[str, Any] = {}
    await every(every_seconds, lambda: chores_once(app, state), "market chores")
