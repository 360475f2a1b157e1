"""The demo's oversight (notice points 十七, 十八): the province's business-environment office (the `regulator`
account) computes the ranking of the 13 cities for each of the last six months under the default indicator
system — so the map, the table and every city's trend have something to show — registers the notice's own
task points as 督办 items (those due in earlier years reported by the `operator` and closed by the office)
and opens follow-ups for the latest month's bottom places and indicators under target. Made through the
oversight services as the office would; nothing here is random."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.models import User
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.market.figures import month_label
from xinyidai.oversight import runs, tasks

MONTHS = 6
ACTOR = "regulator"


@dataclass
class OversightDemo:
    runs: list[str] = field(default_factory=list)  # run numbers, oldest first
    skipped: list[str] = field(default_factory=list)  # months with no data
    notice_tasks: int = 0
    closed: int = 0  # of them, done in earlier years and closed
    followups: int = 0


def _months_back(today: date, n: int) -> list[int]:
    y, m = today.year, today.month
    out = []
    for _ in range(n):
        out.append(y * 100 + m)
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _principal(s: Session, username: str) -> Principal:
    user = s.execute(select(User).where(User.username == username)).scalar_one()
    return Principal(user.id, user.username, user.display_name, user.role, user.org_code)


def seed(db: Database, today: date) -> OversightDemo:
    out = OversightDemo()
    last = None
    for month in _months_back(today, MONTHS):
        with db.session() as s:
            try:
                r = runs.run(s, runs.period_of(month_label(month), None), ACTOR)
            except runs.NoData:
                out.skipped.append(month_label(month))
                continue
            out.runs.append(r.number)
            last = r
    with db.session() as s:
        office, operator = (_principal(s, name) for name in (ACTOR, "operator"))
        registered = tasks.register_notice_tasks(s, office)
        out.notice_tasks = len(registered)
        # The points due in earlier years were done on time: the operator reports each, the office closes it.
        for t in registered:
            if t.deadline.year < today.year:
                tasks.answer(s, operator, t.number, f"已于 {t.deadline.isoformat()} 前完成（演示）。")
                tasks.close(s, office, t.number, "经核查已落实，办结。")
                out.closed += 1
        if last is not None:
            out.followups = len(tasks.open_followups(s, runs.by_number(s, last.number), office))
    return out
