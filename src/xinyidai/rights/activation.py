"""First log-in of an account moved from the old site: its holder re-verifies by one-time code (激活).

A migrated account comes in inactive with an unusable password (`migration`). Its holder gives the username
and the mobile number the old site registered; a six-digit code goes there through the node's `Notifier`
(as real-name registration does, `accounts.registration`); the code and a new password (the accounts'
rules) make the account active and the `MigratedAccount` verified.

The first step answers the same whether or not the username exists and the number matches, so that it tells
nobody which accounts came over; only the audit log says which it was. The code is kept only as an
HMAC-SM3 under the node's secret, lives ten minutes, and allows five tries, counted before the comparison in
one conditional UPDATE (parallel tries cannot slip past the count). An account is sent at most
`MAX_CODES_PER_HOUR` codes an hour, and one client address gets at most `CLIENT_MAX_FAILED` failed steps an
hour (`kit.throttle`), past which it gets 429 with nothing checked.

The code's holder is named by a ticket (an HMAC of the account and its code's expiry) that only the first
step hands out, as a cookie: nobody can spend another holder's tries by posting codes under a username."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyidai.accounts import users as accounts
from xinyidai.accounts.models import User
from xinyidai.accounts.registration import has_admin, mask_phone
from xinyidai.kit import audit, clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.crypto import sm3
from xinyidai.kit.errors import InvalidInput, TooManyRequests
from xinyidai.kit.notify import Notifier
from xinyidai.kit.throttle import Refusal, RefusalGuard, client_key
from xinyidai.rights.models import MigratedAccount

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 3
CLIENT_MAX_FAILED = 10
SENT = "如用户名与原黑龙江站登记的手机号相符，验证码已发送至该手机，{minutes} 分钟内有效。"
GONE = "验证码不正确或已失效，请重新获取验证码"
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_hasher = PasswordHasher()


def activation_guard() -> RefusalGuard:
    """The per-client throttle of failed activation steps (one per application, see `kit.throttle.guards`)."""
    return RefusalGuard(limit=CLIENT_MAX_FAILED, seconds=3600, digest_seconds=300)


def _throttle(s: Session, guard: RefusalGuard | None, client: str | None, actor: str) -> None:
    if guard is None:
        return
    where = client_key(client)
    wait = guard.clients.acquire(where)
    if not wait:
        return
    guard.record(s, Refusal((where, "throttled"), actor, "migration.activation_throttled", f"client:{where}",
                            {"client": where}))
    raise TooManyRequests(f"本机验证失败次数过多，请 {wait // 60 + 1} 分钟后再试", code="ACTIVATION_THROTTLED",
                          detail={"retry_after": wait})


def _passed(guard: RefusalGuard | None, client: str | None) -> None:
    if guard is not None:
        guard.clients.release(client_key(client))


def _code_hash(secret: str, user_id: int, code: str) -> str:
    return sm3.hmac_sm3(secret.encode(), f"activation\n{user_id}\n{code}".encode()).hex()


def ticket(secret: str, username: str, ma: MigratedAccount | None) -> str:
    """What the first step hands out: bound to the account and its current code, or random (same shape)."""
    if ma is None or ma.code_expires_at is None:
        return f"{username}.{secrets.token_hex(16)}"
    mac = sm3.hmac_sm3(secret.encode(), f"activation:{ma.user_id}:{int(ma.code_expires_at.timestamp())}".encode())
    return f"{username}.{mac.hex()[:32]}"


def ticket_username(raw: str) -> str:
    return raw.rpartition(".")[0]


def _pending(s: Session, username: str) -> tuple[User, MigratedAccount] | None:
    row = s.execute(select(User, MigratedAccount).join(MigratedAccount, MigratedAccount.user_id == User.id)
                    .where(User.username == username, MigratedAccount.state == "pending")).first()
    return (row[0], row[1]) if row else None


def start(s: Session, notifier: Notifier, secret: str, *, username: str, phone: str, client: str | None = None,
          guard: RefusalGuard | None = None) -> tuple[str, str]:
    """Send a code when the username is a pending migrated account and the number is the one registered.
    Returns (message, ticket): the same message in every case. The caller commits (the audit entries)."""
    username = (username or "").strip()[:64]
    phone = re.sub(r"[\s-]", "", phone or "").removeprefix("+86")
    if not username or not _PHONE.match(phone):
        raise InvalidInput("请填写用户名和 11 位中国大陆手机号码", code="BAD_PHONE")
    _throttle(s, guard, client, f"activation:{username}")
    minutes = int(CODE_TTL.total_seconds() // 60)
    found = _pending(s, username)
    actor, target = f"activation:{username}", f"user:{username}"
    if found is None or not hmac.compare_digest(found[1].phone, phone):
        audit.record(s, actor, "migration.activation_mismatch", target,
                     entity_code=found[1].entity_code if found else None,
                     reason="unknown" if found is None else "phone", phone=mask_phone(phone), client=client)
        return SENT.format(minutes=minutes), ticket(secret, username, None)
    _passed(guard, client)
    user, ma = found
    now = clock.now()
    recent = s.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "migration.code_sent", AuditEvent.target == target,
        AuditEvent.at > now - timedelta(hours=1))).scalar_one()
    if recent >= MAX_CODES_PER_HOUR:
        audit.record(s, actor, "migration.code_throttled", target, entity_code=ma.entity_code, client=client)
        return SENT.format(minutes=minutes), ticket(secret, username, ma)
    one_time = f"{secrets.randbelow(10 ** 6):06d}"
    ma.code_hash = _code_hash(secret, user.id, one_time)
    ma.code_expires_at = now + CODE_TTL
    ma.tries = 0
    s.flush()
    audit.record(s, actor, "migration.code_sent", target, entity_code=ma.entity_code, phone=mask_phone(phone),
                 client=client)
    notifier.send(phone, f"【信易贷】您正在激活从原黑龙江站迁移的账户 {username}，验证码 {one_time}，"
                         f"{minutes} 分钟内有效。如非本人操作，请忽略本短信。", kind="migration")
    return SENT.format(minutes=minutes), ticket(secret, username, ma)


def confirm(s: Session, secret: str, raw_ticket: str, code: str, password: str, password2: str, *,
            client: str | None = None, guard: RefusalGuard | None = None) -> User:
    """Check the code and set the new password: the account is active and verified. Wrong codes count (the
    caller commits on failure); the fifth, or the tenth minute, ends the code."""
    if password != password2:
        raise InvalidInput("两次输入的密码不一致", code="PASSWORD_MISMATCH")
    if len(password or "") < accounts.MIN_PASSWORD:
        raise InvalidInput(f"新密码至少 {accounts.MIN_PASSWORD} 位", code="WEAK_PASSWORD")
    username = ticket_username(raw_ticket or "")
    _throttle(s, guard, client, f"activation:{username}")
    found = _pending(s, username)
    actor, target = f"activation:{username}", f"user:{username}"
    if found is None or not hmac.compare_digest(ticket(secret, username, found[1]), raw_ticket or ""):
        audit.record(s, actor, "migration.code_wrong", target, reason="no code", client=client)
        raise InvalidInput(GONE, code="CODE_INVALID")
    user, ma = found
    now = clock.now()
    attempt = _claim_attempt(s, user.id, now)
    s.refresh(ma)
    if attempt is None:
        audit.record(s, actor, "migration.code_wrong", target, entity_code=ma.entity_code,
                     reason="expired or no tries left", client=client)
        raise InvalidInput("验证码已过期或错误次数过多，请重新获取验证码", code="CODE_EXPIRED")
    given = re.sub(r"\s", "", code or "")
    if not hmac.compare_digest(_code_hash(secret, user.id, given), ma.code_hash or ""):
        left = MAX_ATTEMPTS - attempt
        audit.record(s, actor, "migration.code_wrong", target, entity_code=ma.entity_code, attempts=attempt,
                     client=client)
        if left <= 0:
            ma.code_hash = None
            raise InvalidInput("验证码错误次数过多，请重新获取验证码", code="CODE_ATTEMPTS_EXCEEDED")
        raise InvalidInput(f"验证码不正确，还可尝试 {left} 次", code="CODE_INVALID", detail={"attempts_left": left})
    _passed(guard, client)
    demoted = user.org_admin and has_admin(s, ma.entity_code)  # someone registered as administrator meanwhile
    user.password_hash = _hasher.hash(password)
    user.active = True
    if demoted:
        user.org_admin = False
    ma.state, ma.verified_at, ma.code_hash, ma.code_expires_at = "verified", now, None, None
    audit.record(s, user.username, "migration.account_activated", target, entity_code=ma.entity_code,
                 org_admin=user.org_admin, demoted=demoted, client=client)
    return user


def _claim_attempt(s: Session, user_id: int, now: datetime) -> int | None:
    """Count one try before the code is compared (see `accounts.registration._claim_attempt`)."""
    m = MigratedAccount
    return s.execute(update(m).where(m.user_id == user_id, m.state == "pending", m.code_hash.is_not(None),
                                     m.tries < MAX_ATTEMPTS, m.code_expires_at > now)
                     .values(tries=m.tries + 1).returning(m.tries)
                     .execution_options(synchronize_session=False)).scalar_one_or_none()
