"""An organisation's administrator manages colleague accounts.

The administrator (`User.org_admin`) is an enterprise's real-name verified administrator or an
institution's admin. They may add colleagues — same role, same `org_code`, never administrators — and
disable or re-enable them; they cannot disable themselves or another administrator (an operator does
that). Whether the actor is an administrator is read from the database on every call, not from the
session, so a revoked right takes effect at once.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xinyidai.accounts import users as accounts
from xinyidai.accounts.models import LoginSession, User
from xinyidai.kit import audit
from xinyidai.kit.errors import Forbidden, InvalidInput, NotFound
from xinyidai.kit.principal import Principal

ORG_ROLES = ("enterprise", "bank")


def administrator(s: Session, actor: Principal) -> User:
    """The actor's own user row, if it is an active organisation administrator; else Forbidden."""
    u = s.get(User, actor.user_id) if actor.user_id else None
    if u is None or not u.active or not u.org_admin or u.role not in ORG_ROLES or not u.org_code:
        raise Forbidden("只有本单位的管理员可以管理同事账户", code="ORG_ADMIN_ONLY")
    return u


def is_administrator(s: Session, actor: Principal) -> bool:
    try:
        administrator(s, actor)
    except Forbidden:
        return False
    return True


def list_colleagues(s: Session, actor: Principal) -> list[User]:
    admin = administrator(s, actor)
    return list(s.execute(select(User).where(User.role == admin.role, User.org_code == admin.org_code)
                          .order_by(User.org_admin.desc(), User.created_at, User.id)).scalars())


def add_colleague(s: Session, actor: Principal, *, username: str, display_name: str, password: str) -> User:
    admin = administrator(s, actor)
    display = (display_name or "").strip()
    if not 1 <= len(display) <= 100:
        raise InvalidInput("请填写同事的姓名", code="BAD_DISPLAY_NAME")
    u = accounts.create_user(s, username=username, display_name=display, role=admin.role, password=password,
                             org_code=admin.org_code, actor=actor.username)
    audit.record(s, actor.username, "colleague.added", f"user:{u.username}", org_code=admin.org_code)
    return u


def set_colleague_active(s: Session, actor: Principal, user_id: int, active: bool, reason: str = "") -> User:
    admin = administrator(s, actor)
    u = s.get(User, user_id)
    if u is None or u.role != admin.role or u.org_code != admin.org_code:
        raise NotFound("本单位没有这个同事账户", code="USER_NOT_FOUND")
    if u.id == admin.id or u.org_admin:
        raise Forbidden("不能停用管理员账户", code="CANNOT_DISABLE_ADMIN")
    u.active = bool(active)
    if not active:
        s.execute(delete(LoginSession).where(LoginSession.user_id == u.id))
    audit.record(s, actor.username, "colleague.enabled" if active else "colleague.disabled", f"user:{u.username}",
                 org_code=admin.org_code, reason=(reason or "").strip()[:500])
    return u
