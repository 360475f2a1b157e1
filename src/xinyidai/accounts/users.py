"""Users of the platform, their passwords (argon2id) and log-in sessions.

Session tokens live only in the user's cookie; the database keeps their SHA-256, so a copy of the database
does not let anyone log in.

**One answer to every failed log-in.** An unknown username, a wrong password and a locked one all get
用户名或密码不正确 (401 `BAD_CREDENTIALS`), the same text that states the lock rule; an unknown username
spends the time a password check takes. Only the audit log says which it was (`login.failed` with reason
`unknown`, `inactive` or `password`; `login.refused` with `locked`), with the client's address.

**Locks are per username and client address, not per account.** Five failures from one address stop that
address trying that username until fifteen minutes after the first of them (`LoginFailure`). A stranger
can lock out only himself: the owner, from another address, logs in as before. An account-wide lock would
let anyone with a few addresses lock anyone out at will (an IPv6 /48 holds 65,536 /64s), so there is
none; guessing from many addresses is bounded per address — five tries per username, and at most twenty
failed log-ins per address in fifteen minutes over all usernames (`login_guard`, `kit.throttle`), past
which the address gets 429 with nothing checked, an answer about the address that says nothing of any
account — and every attempt shows in the audit log (the throttled ones summed up). The lock is keyed by
the username as typed, existing or not, so that it says nothing about which usernames exist either.

**Counting is atomic.** Each attempt first claims a failure in one statement — an upsert whose condition
is the limit and which returns a row only when the claim is granted — committed at once, so that no lock
is held while argon2 runs; a success then clears the count. However many attempts run at once, in however
many processes, at most five passwords are compared; the others are refused without a check.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xinyidai.accounts.models import LoginFailure, LoginSession, User
from xinyidai.kit import audit, clock
from xinyidai.kit.db import UTCDateTime
from xinyidai.kit.errors import Conflict, InvalidInput, TooManyRequests, Unauthenticated
from xinyidai.kit.principal import USER_ROLES, Principal
from xinyidai.kit.throttle import Refusal, RefusalGuard, client_key

_hasher = PasswordHasher()
MAX_FAILED = 5  # per username and client address …
LOCK = timedelta(minutes=15)  # … counted from the first failure, and refused until this long after it
CLIENT_MAX_FAILED = 20  # failed log-ins per client address in CLIENT_WINDOW, over all usernames
CLIENT_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 10
FAILED = (f"用户名或密码不正确。同一用户名连续输错 {MAX_FAILED} 次后，"
          f"需等待 {int(LOCK.total_seconds() // 60)} 分钟才能再次登录")
PURGE_EVERY = 60.0  # seconds between purges of expired failure counts, per process
_purged = [float("-inf")]
_purge_lock = threading.Lock()


def login_guard() -> RefusalGuard:
    """The per-client throttle of failed log-ins (one per application, see `kit.throttle.guards`)."""
    return RefusalGuard(limit=CLIENT_MAX_FAILED, seconds=CLIENT_WINDOW.total_seconds(), digest_seconds=300)


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


def authenticate(s: Session, username: str, password: str, ttl_minutes: int, client: str | None = None, *,
                 address: str | None = None, guard: RefusalGuard | None = None) -> tuple[str, LoginSession, User]:
    """Check the password and open a session; returns the raw token for the cookie. `client` is the user
    agent the session keeps; `address` the client's address that failures are counted by; `guard` the
    application's per-client throttle. Commits the attempt's claim itself (see the module docstring); the
    caller commits a refusal's audit entry."""
    name = username.strip()[:64]
    where = client_key(address)
    if guard is not None:
        wait = guard.clients.acquire(where)
        if wait:
            guard.record(s, Refusal((where, "throttled"), name or "?", "login.refused", f"client:{where}",
                                    {"reason": "throttled", "client": where}, {"username": name},
                                    variant=("usernames", name)))
            raise TooManyRequests(f"登录失败次数过多，请 {math.ceil(wait / 60)} 分钟后再试", code="LOGIN_THROTTLED",
                                  detail={"retry_after": wait})
    opened = _check(s, name, password, ttl_minutes, client, where)
    if guard is not None:
        guard.clients.release(where)  # only failures count against the address
    return opened


def _check(s: Session, name: str, password: str, ttl_minutes: int, agent: str | None,
           where: str) -> tuple[str, LoginSession, User]:
    now = clock.now()
    granted = _claim(s, name, where, now)
    u = s.execute(select(User).where(User.username == name)).scalar_one_or_none()
    s.commit()  # the claim counts from now on, in every process, and no lock is held while argon2 runs
    actor, target = name or "?", f"user:{name}"
    if not granted:
        audit.record(s, actor, "login.refused", target, reason="locked", client=where)
        raise Unauthenticated(FAILED, code="BAD_CREDENTIALS")
    if u is None or not u.active:
        _hasher.hash(password)  # spend the same time, so timing does not reveal which usernames exist
        audit.record(s, actor, "login.failed", target, reason="unknown" if u is None else "inactive", client=where)
        raise Unauthenticated(FAILED, code="BAD_CREDENTIALS")
    try:
        _hasher.verify(u.password_hash, password)
    except (VerificationError, InvalidHashError):
        audit.record(s, actor, "login.failed", target, reason="password", client=where)
        raise Unauthenticated(FAILED, code="BAD_CREDENTIALS") from None
    s.execute(delete(LoginFailure).where(LoginFailure.username == name, LoginFailure.client == where))
    _purge_failures(s, now)
    if _hasher.check_needs_rehash(u.password_hash):
        u.password_hash = _hasher.hash(password)
    u.last_login_at = now
    token = secrets.token_urlsafe(32)
    ls = LoginSession(token_hash=_token_hash(token), user_id=u.id, csrf_token=secrets.token_urlsafe(24),
                      created_at=now, expires_at=now + timedelta(minutes=ttl_minutes), last_seen_at=now,
                      client=(agent or "")[:200])
    s.add(ls)
    audit.record(s, u.username, "login.ok", target, client=where)
    return token, ls, u


def _claim(s: Session, name: str, where: str, now: datetime) -> bool:
    """Count one failure of `name` from `where` before its password is checked, unless MAX_FAILED are
    already counted in the current window: one upsert whose update is conditional and returns the row only
    when it counted, so concurrent claims cannot all see a count below the limit."""
    t = LoginFailure.__table__
    stale = t.c.since <= now - LOCK  # the window of the counted failures has passed: start a new one
    insert = (postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert)(t)
    stmt = insert.values(username=name, client=where, failed=1, since=now).on_conflict_do_update(
        index_elements=[t.c.username, t.c.client],
        set_={"failed": case((stale, 1), else_=t.c.failed + 1),
              "since": case((stale, literal(now, UTCDateTime())), else_=t.c.since)},
        where=or_(stale, t.c.failed < MAX_FAILED)).returning(t.c.failed)
    return s.execute(stmt).first() is not None


def _purge_failures(s: Session, now: datetime) -> None:
    """Forget counts whose window has passed, at most once a minute per process."""
    with _purge_lock:
        if time.monotonic() - _purged[0] < PURGE_EVERY:
            return
        _purged[0] = time.monotonic()
    s.execute(delete(LoginFailure).where(LoginFailure.since <= now - LOCK))


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
