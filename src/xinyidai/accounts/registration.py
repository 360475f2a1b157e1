"""Real-name registration (实名注册): an enterprise's verified administrator account.

The applicant gives the entity's credit code and name, the legal representative's name and ID number, a
mobile number, and the username and password they want. The four identifying fields must match the
register (`MarketEntity.name`, `legal_rep`, `legal_rep_id`; the ID's check character X in either case).
A six-digit one-time code then goes to the mobile number through the node's `Notifier`; entering it within
ten minutes (at most five tries) creates the account: role `enterprise`, `org_code` = the credit code,
`org_admin` — the entity's one administrator, who may then add colleagues (`colleagues`).

Against probing the register: a wrong name, ID, representative or unknown code all get one and the same
message (the audit entry records which field failed), an entity sees at most `MAX_MISMATCHES` failed
applications an hour, and one client address at most `CLIENT_MAX_FAILED` failed tries (refused
applications and wrong codes, over all entities) an hour, past which it gets 429 with nothing checked
(`registration_guard`, `kit.throttle`; a try is counted before it is checked and given back if it
passes, so parallel tries cannot slip past the count). Wrong codes are counted before the code is
compared, in one conditional UPDATE: however many tries run at once, at most `MAX_ATTEMPTS` codes are
compared. Nothing identifying is kept in clear: the ID number only as its SM3 digest, the code only as an
HMAC-SM3 keyed with the node's secret (a copy of the database does not yield codes), the password as
argon2id from the start.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyidai.accounts import users as accounts
from xinyidai.accounts.models import RealNameRegistration, User
from xinyidai.entities.codes import validate_id_number, validate_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import audit, clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.crypto import sm3
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from xinyidai.kit.notify import Notifier
from xinyidai.kit.throttle import Refusal, RefusalGuard, client_key

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_MISMATCHES = 5  # failed applications per entity per hour
CLIENT_MAX_FAILED = 10  # refused applications and wrong codes per client address per hour
CLOSED_STATUSES = ("注销", "吊销", "撤销")
MISMATCH = "所填信息与市场主体登记信息不一致，请核对统一社会信用代码、名称、法定代表人姓名及其身份证号码"

_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
_hasher = PasswordHasher()


def registration_guard() -> RefusalGuard:
    """The per-client throttle of failed registrations (one per application, see `kit.throttle.guards`)."""
    return RefusalGuard(limit=CLIENT_MAX_FAILED, seconds=3600, digest_seconds=300)


def _throttle(s: Session, guard: RefusalGuard | None, client: str | None, actor: str) -> None:
    """Count a try against the client before anything is checked, or refuse it when the client has failed
    too often this hour (that refusal's audit entry is aggregated, see `kit.throttle`). A try that does not
    fail is given back (`_passed`)."""
    if guard is None:
        return
    where = client_key(client)
    wait = guard.clients.acquire(where)
    if not wait:
        return
    guard.record(s, Refusal((where, "throttled"), actor, "registration.throttled", f"client:{where}",
                            {"reason": "client", "client": where}))
    raise TooManyRequests(f"本机核验失败次数过多，请 {wait // 60 + 1} 分钟后再试", code="REGISTRATION_THROTTLED",
                          detail={"retry_after": wait})


def _passed(guard: RefusalGuard | None, client: str | None) -> None:
    if guard is not None:
        guard.clients.release(client_key(client))


def _norm_name(v: str) -> str:
    """Names compare without spaces and with half-width brackets made full-width, as registers write them."""
    return re.sub(r"\s+", "", (v or "")).replace("(", "（").replace(")", "）")


def id_digest(id_number: str) -> str:
    return sm3_hex(id_number.strip().upper().encode())


def _code_hash(secret: str, entity_code: str, username: str, code: str) -> str:
    return sm3.hmac_sm3(secret.encode(), f"{entity_code}\n{username}\n{code}".encode()).hex()


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "***"


def has_admin(s: Session, entity_code: str) -> bool:
    return s.execute(select(User.id).where(User.role == "enterprise", User.org_code == entity_code,
                                           User.org_admin.is_(True), User.active.is_(True))).first() is not None


def _check_account_fields(s: Session, username: str, password: str) -> str:
    username = (username or "").strip()
    if not _USERNAME.match(username):
        raise InvalidInput("用户名须为 3–64 位字母、数字、下划线、点或连字符", code="BAD_USERNAME")
    if len(password or "") < accounts.MIN_PASSWORD:
        raise InvalidInput(f"密码至少 {accounts.MIN_PASSWORD} 位", code="WEAK_PASSWORD")
    if s.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"用户名 {username} 已被使用，请换一个", code="USERNAME_TAKEN")
    return username


def start(s: Session, notifier: Notifier, secret: str, *, entity_code: str, entity_name: str, person_name: str,
          id_number: str, phone: str, username: str, password: str,
          client: str | None = None, guard: RefusalGuard | None = None) -> RealNameRegistration:
    """Check the application against the register and send the one-time code.

    Refusals raise typed errors after writing their audit entry: the caller commits before answering, so
    failed attempts are counted even though the request fails."""
    code = validate_uscc(entity_code)
    id_number = validate_id_number(id_number)
    person_name = (person_name or "").strip()
    if not 2 <= len(person_name) <= 50:
        raise InvalidInput("请填写法定代表人姓名", code="BAD_PERSON_NAME")
    phone = re.sub(r"[\s-]", "", phone or "").removeprefix("+86")
    if not _PHONE.match(phone):
        raise InvalidInput("请填写 11 位中国大陆手机号码", code="BAD_PHONE")
    username = _check_account_fields(s, username, password)
    _throttle(s, guard, client, f"applicant:{username}")

    now = clock.now()
    recent = s.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.entity_code == code, AuditEvent.action == "registration.mismatch",
        AuditEvent.at > now - timedelta(hours=1))).scalar_one()
    if recent >= MAX_MISMATCHES:
        audit.record(s, f"applicant:{username}", "registration.throttled", f"entity:{code}", client=client)
        raise TooManyRequests("该市场主体近一小时内核验失败次数过多，请稍后再试", code="REGISTRATION_THROTTLED")

    entity = s.get(MarketEntity, code)
    failed: list[str] = []
    if entity is None:
        failed.append("code")
    else:
        if _norm_name(entity.name) != _norm_name(entity_name):
            failed.append("entity_name")
        if _norm_name(entity.legal_rep or "") != _norm_name(person_name) or not entity.legal_rep:
            failed.append("legal_rep")
        if not entity.legal_rep_id or entity.legal_rep_id.strip().upper() != id_number:
            failed.append("legal_rep_id")
        if entity.status in CLOSED_STATUSES:
            failed.append("status")
    if failed:
        audit.record(s, f"applicant:{username}", "registration.mismatch", f"entity:{code}", entity_code=code,
                     failed=failed, phone=mask_phone(phone), client=client)
        raise InvalidInput(MISMATCH, code="REGISTRATION_MISMATCH")
    assert entity is not None
    _passed(guard, client)  # the details match the register
    if has_admin(s, code):
        audit.record(s, f"applicant:{username}", "registration.refused", f"entity:{code}", entity_code=code,
                     reason="entity already has an administrator", client=client)
        raise Conflict("该市场主体已有经过实名验证的管理员账户。如需使用平台，请联系该管理员为您添加同事账户；"
                       "如管理员已变更，请联系平台运营人员。", code="ENTITY_HAS_ADMIN")

    s.execute(update(RealNameRegistration).where(RealNameRegistration.entity_code == code,
                                                 RealNameRegistration.status == "pending").values(status="expired"))
    one_time = f"{secrets.randbelow(10 ** 6):06d}"
    reg = RealNameRegistration(entity_code=code, person_name=person_name, id_digest=id_digest(id_number),
                               phone=phone, username=username, password_hash=_hasher.hash(password),
                               code_hash=_code_hash(secret, code, username, one_time),
                               code_expires_at=now + CODE_TTL, attempts=0, status="pending", created_at=now)
    s.add(reg)
    s.flush()
    audit.record(s, f"applicant:{username}", "registration.started", f"registration:{reg.id}", entity_code=code,
                 phone=mask_phone(phone), client=client)
    minutes = int(CODE_TTL.total_seconds() // 60)
    notifier.send(phone, f"【信易贷】您正在为「{entity.name}」办理实名注册，验证码 {one_time}，{minutes} 分钟内有效。"
                         "如非本人操作，请忽略本短信。", kind="registration")
    return reg


def confirm(s: Session, secret: str, registration_id: int, code: str, client: str | None = None,
            guard: RefusalGuard | None = None) -> User:
    """Check the one-time code and create the administrator account. Wrong codes count (the caller commits
    on failure); the fifth wrong code, or the tenth minute, ends the application."""
    _throttle(s, guard, client, "applicant")  # before the claim: a throttled client spends no one's tries
    now = clock.now()
    attempt = _claim_attempt(s, registration_id, now)
    reg = s.get(RealNameRegistration, registration_id, populate_existing=True)
    if reg is None or reg.status != "pending":
        raise NotFound("注册申请不存在或已失效，请重新填写申请", code="REGISTRATION_NOT_FOUND")
    actor = f"applicant:{reg.username}"
    target = f"registration:{reg.id}"
    if attempt is None and reg.code_expires_at <= now:
        reg.status = "expired"
        audit.record(s, actor, "registration.expired", target, entity_code=reg.entity_code, client=client)
        raise InvalidInput("验证码已过期，请重新申请", code="CODE_EXPIRED")
    if attempt is None:  # the other tries, running at the same time, used up the last ones
        audit.record(s, actor, "registration.refused", target, entity_code=reg.entity_code,
                     reason="no tries left", client=client)
        raise InvalidInput("验证码错误次数过多，本次申请已失效，请重新申请", code="CODE_ATTEMPTS_EXCEEDED")
    given = re.sub(r"\s", "", code or "")
    if not hmac.compare_digest(_code_hash(secret, reg.entity_code, reg.username, given), reg.code_hash):
        left = MAX_ATTEMPTS - attempt
        audit.record(s, actor, "registration.code_wrong", target, entity_code=reg.entity_code,
                     attempts=attempt, client=client)
        if left <= 0:
            reg.status = "expired"
            raise InvalidInput("验证码错误次数过多，本次申请已失效，请重新申请", code="CODE_ATTEMPTS_EXCEEDED")
        raise InvalidInput(f"验证码不正确，还可尝试 {left} 次", code="CODE_INVALID", detail={"attempts_left": left})
    _passed(guard, client)  # the right code
    if has_admin(s, reg.entity_code):  # someone else finished first
        reg.status = "expired"
        audit.record(s, actor, "registration.refused", target, entity_code=reg.entity_code,
                     reason="entity already has an administrator", client=client)
        raise Conflict("该市场主体已有经过实名验证的管理员账户", code="ENTITY_HAS_ADMIN")
    if s.execute(select(User.id).where(User.username == reg.username)).first():
        reg.status = "expired"
        raise Conflict(f"用户名 {reg.username} 已被使用，请重新申请并换一个用户名", code="USERNAME_TAKEN")
    user = User(username=reg.username, display_name=reg.person_name, role="enterprise",
                password_hash=reg.password_hash, org_code=reg.entity_code, org_admin=True, active=True,
                created_at=now)
    s.add(user)
    s.flush()
    reg.status = "completed"
    reg.completed_at = now
    audit.record(s, actor, "user.created", f"user:{user.username}", role="enterprise", org_admin=True,
                 registration_id=reg.id)
    audit.record(s, reg.username, "registration.completed", target, entity_code=reg.entity_code, client=client)
    return user


def _claim_attempt(s: Session, registration_id: int, now: datetime) -> int | None:
    """Count one try at the code before it is compared: the try's number, or None when the application is
    not pending, has expired or has no tries left. One conditional UPDATE, so that tries made at the same
    time cannot all see a count below the limit (it holds the row until the caller commits)."""
    r = RealNameRegistration
    return s.execute(update(r).where(r.id == registration_id, r.status == "pending", r.attempts < MAX_ATTEMPTS,
                                     r.code_expires_at > now)
                     .values(attempts=r.attempts + 1).returning(r.attempts)
                     .execution_options(synchronize_session=False)).scalar_one_or_none()
