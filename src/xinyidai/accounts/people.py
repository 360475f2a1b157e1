"""Who did something, as a person reads it: an account's display name instead of its login name, and 系统 for
the platform's own processes (demo data, the command line, scheduled jobs); and the name of the organisation
an account acts for. Every page that names who did something asks here, so one person is called the same
everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.models import User
from xinyidai.entities.models import MarketEntity

SYSTEM_ACTORS = {"system": "系统", "demo": "系统（演示数据）", "cli": "系统（命令行）", "scheduler": "系统（定时任务）"}

# role → how to name the organisation its accounts act for. An enterprise's is the register's name; the
# institutions domain, above this one, adds the banks' (as a network envelope kind registers its applier).
OrgNamer = Callable[[Session, str], str | None]
ORG_NAMERS: dict[str, OrgNamer] = {
    "enterprise": lambda s, code: s.execute(select(MarketEntity.name).where(MarketEntity.code == code)).scalar(),
}


def names_of(s: Session, usernames: Iterable[str | None]) -> dict[str, str]:
    """username → display name for the given actors; an unknown one keeps its login name."""
    wanted = {u for u in usernames if u}
    out = {u: SYSTEM_ACTORS[u] for u in wanted if u in SYSTEM_ACTORS}
    rest = wanted - set(out)
    if rest:
        out.update(s.execute(select(User.username, User.display_name).where(User.username.in_(rest))).all())
    return {u: out.get(u, u) for u in wanted}


def name_of(s: Session, username: str | None) -> str:
    """One actor's name as `names_of` gives it ("" for none)."""
    return names_of(s, [username]).get(username or "", "")


def org_name(s: Session, role: str, org_code: str | None) -> str | None:
    """The name of the organisation an account of `role` acts for, or None when it is not known here."""
    namer = ORG_NAMERS.get(role)
    return namer(s, org_code) if namer and org_code else None
