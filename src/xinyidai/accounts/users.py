"""Users of the platform, their passwords (argon2id) and log-in sessions.

Session tokens live only in the user's cookie; the database keeps their SHA-256, so a copy of the database
does not let anyone log in. Five wrong passwords lock an account for fifteen minutes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xinyidai.accounts.models import LoginSession, User
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, InvalidInput, Unauthenticated
from xinyidai.kit.principal import USER_ROLES, Principal

_hasher = PasswordHasher()
MAX_FAILED = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10


def principal_of(u: User) -> Principal:
    return Principal(u.id, u.username, u.display_name, u.role, u.org_code)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(s: Session, *, username: str, display_name: str, role: str, password: str,
                org_code: str | None = None, actor: str = "system") -> User:
    username = username.strip()
    if role not in USER_ROLES:
        raise InvalidInput(f"角色必须是 {'、'.join(USER_ROLES)} 之一", code="BAD_ROLE")
    if not (3 <= len(username) <= 64) or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise InvalidInput("用户名须为 3–64 位字母、数字、下划线、点或连字符", code="BAD_USERNAME")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD} 位", code="WEAK_PASSWORD")
    if s.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"用户名 {username} 已存在", code="USERNAME_TAKEN")
    u = User(username=username, display_name=display_name, role=role, password_hash=_hasher.hash(password),
             org_code=org_code, active=True, created_at=clock.now())
    s.add(u)
    s.flush()
    audit.record(s, actor, "user.created", f"user:{username}", role=role)
    return u


def authenticate(s: Session, username: str, password: str, ttl_minutes: int,
                 client: str | None = None) -> tuple[str, LoginSession, User]:
    """Check the password and open a session; returns the raw token for the cookie."""
    now = clock.now()
    u = s.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    failure = Unauthenticated("用户名或密码不正确", code="BAD_CREDENTIALS")
    if u is None or not u.active:
        _hasher.hash(password)  # spend the same time, so timing does not reveal which usernames exist
        audit.record(s, username[:64] or "?", "login.failed", f"user:{username[:64]}", reason="unknown")
        raise failure
    if u.locked_until and u.locked_until > now:
        audit.record(s, u.username, "login.refused", f"user:{u.username}", reason="locked")
        raise Unauthenticated(f"连续输错密码次数过多，账户已锁定至 {u.locked_until.astimezone(clock.CHINA_TZ):%H:%M}",
                              code="ACCOUNT_LOCKED")
    try:
        _hasher.verify(u.password_hash, password)
    except (VerificationError, InvalidHashError):
        u.failed_logins += 1
        if u.failed_logins >= MAX_FAILED:
            u.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            u.failed_logins = 0
        audit.record(s, u.username, "login.failed", f"user:{u.username}", reason="password")
        raise failure from None
    if _hasher.check_needs_rehash(u.password_hash):
        u.password_hash = _hasher.hash(password)
    u.failed_logins = 0
    u.locked_until = None
    u.last_login_at = now
    token = secrets.token_urlsafe(32)
    ls = LoginSession(token_hash=_token_hash(token), user_id=u.id, csrf_token=secrets.token_urlsafe(24),
                      created_at=now, expires_at=now + timedelta(minutes=ttl_minutes), last_seen_at=now,
                      client=(client or "")[:200])
    s.add(ls)
    audit.record(s, u.username, "login.ok", f"user:{u.username}")
    return token, ls, u


def resolve(s: Session, token: str | None) -> tuple[LoginSession, User] | None:
    """The live session for a cookie token, or None (unknown, expired, or user disabled)."""
    if not token:
        return None
    ls = s.get(LoginSession, _token_hash(token))
    if ls is None:
        return None
    now = clock.now()
    if ls.expires_at <= now:
        s.delete(ls)
        return None
    u = s.get(User, ls.user_id)
    if u is None or not u.active:
        return None
    if now - ls.last_seen_at > timedelta(minutes=1):  # a write a minute per session, not one per request
        ls.last_seen_at = now
    return ls, u


def logout(s: Session, token: str | None) -> None:
    if token:
        s.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))


def purge_expired(s: Session) -> int:
    res = s.execute(delete(LoginSession).where(LoginSession.expires_at <= clock.now()))
    return res.rowcount or 0
