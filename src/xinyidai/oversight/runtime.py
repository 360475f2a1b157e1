"""Oversight's chore while the server runs: early each month the node prepares the draft of last month's
progress report by itself (prepared by `system`, so any officer may approve it — the two-person rule holds,
since the system never approves). A month with no data is skipped, and tried again only the next day."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.chores import every
from xinyidai.market.figures import Period
from xinyidai.network import relay, runtime
from xinyidai.oversight import progress
from xinyidai.oversight.models import ProgressReport
from xinyidai.oversight.runs import NoData

log = logging.getLogger(__name__)
SYSTEM = "system"


def last_month(today: date) -> int:
    return (today.year - 1) * 100 + 12 if today.month == 1 else today.year * 100 + today.month - 1


def monthly_report(s: Session, ctx: relay.NodeContext, node_name: str, today: date | None = None) -> str | None:
    """Prepare last month's monthly report unless this node already has one (whoever prepared it); returns
    the new report's number, or None when there is one already or nothing to report."""
    month = last_month(today or clock.today())
    held = s.execute(select(ProgressReport.number).where(
        ProgressReport.origin_node.is_(None), ProgressReport.kind == "monthly",
        ProgressReport.period_start == month, ProgressReport.period_end == month).limit(1)).scalar_one_or_none()
    if held is not None:
        return None
    try:
        return progress.prepare(s, ctx, node_name, SYSTEM, Period(month, month), "monthly").number
    except NoData:
        return None


def chores_once(app: Any, state: dict[str, Any]) -> str | None:
    today = clock.today()
    if state.get("tried_on") == today:
        return None
    state["tried_on"] = today
    n = app.state.node
    with n.db.write_lock, n.db.session() as s:
        number = monthly_report(s, runtime.context(app), n.settings.node_name, today)
    if number:
        log.info("prepared the monthly progress report %s", number)
    return number


async def chores(app: Any, every_seconds: int = 3600) -> None:
    state: dict[str, Any] = {}
    await every(every_seconds, lambda: chores_once(app, state), "oversight chores")
