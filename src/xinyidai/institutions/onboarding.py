"""Financial institutions, their users and their machine credentials.

An operator onboards an institution (a bank, a branch, a credit-service agency) under its own 统一社会信用代码
and may suspend, reactivate or revoke it with a reason; revocation is final and revokes its credentials.
Institution users are ordinary users with role `bank` whose `org_code` is the institution's code; one or
more of them may be the institution's administrator (`org_admin`).

Machine credentials (see `request_auth` for how requests use them):

* an **API key** `xyd_<key_id>.<secret>` is shown once, when issued; only the SHA-256 of the secret is kept
  (the secret is 256 random bits, so a fast hash is enough — there is nothing to brute-force);
* a **public key** (`sm2` or `ed25519`) with which the institution signs each request; the platform never
  holds the private key.

Rotation issues a new credential with the same label and lets the old one live for a grace period (default
24 hours, by setting its `expires_at`), so the institution can roll its deployment over without an outage;
a grace of 0 revokes the old one at once (use that when the old secret may have leaked).

Every function takes the acting `Principal` and refuses what it may not do (deny by default): operators
manage everything; regulators and security officers read; a bank user reads its own institution only.
Every change leaves an audit entry in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from xinyidai.accounts import people
from xinyidai.accounts import users as accounts
from xinyidai.accounts.models import LoginSession, User
from xinyidai.entities.codes import validate_uscc
from xinyidai.institutions import signing_keys
from xinyidai.institutions.models import (
    CREDENTIAL_KINDS,
    CREDENTIAL_STATUSES,
    INSTITUTION_KINDS,
    INSTITUTION_STATUSES,
    ApiCredential,
    FinancialInstitution,
)
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal

KEY_PREFIX = "xyd_"
DEFAULT_GRACE_HOURS = 24
MAX_GRACE_HOURS = 24 * 30
SIGNING_KINDS = signing_keys.KINDS

SORTABLE = {
    "code": FinancialInstitution.code,
    "name": FinancialInstitution.name,
    "kind": FinancialInstitution.kind,
    "status": FinancialInstitution.status,
    "created_at": FinancialInstitution.created_at,
}

_KEY_ID = re.compile(r"^[0-9a-f]{16}$")


# ── who may do what ─────────────────────────────────────────────────────────────────────────────────────

def _require_operator(actor: Principal) -> None:
    if actor.role != "operator":
        raise Forbidden("只有平台运营人员可以管理金融机构及其凭证", code="OPERATOR_ONLY")


def _may_read(actor: Principal, code: str) -> None:
    if actor.role in STAFF:
        return
    if actor.role == "bank" and actor.org_code == code:
        return
    raise Forbidden("无权查看该金融机构的信息", code="INSTITUTION_FORBIDDEN")


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < 2:
        raise InvalidInput("请填写原因（至少 2 个字）", code="REASON_REQUIRED")
    return text[:500]


# ── institutions ────────────────────────────────────────────────────────────────────────────────────────

def onboard(s: Session, actor: Principal, *, code: str, name: str, kind: str, parent_code: str | None = None,
            region_code: str | None = None, contact: str | None = None,
            rate_per_minute: int = 600) -> FinancialInstitution:
    """Admit an institution to the node (operators only)."""
    _require_operator(actor)
    code = validate_uscc(code)
    name = (name or "").strip()
    if not 2 <= len(name) <= 200:
        raise InvalidInput("机构名称应为 2–200 个字", code="BAD_NAME")
    if kind not in INSTITUTION_KINDS:
        raise InvalidInput(f"机构类型必须是 {'、'.join(INSTITUTION_KINDS)} 之一", code="BAD_KIND")
    if not 1 <= int(rate_per_minute) <= 100_000:
        raise InvalidInput("每分钟请求上限应在 1 到 100000 之间", code="BAD_RATE")
    region_code = (region_code or "").strip() or None
    if region_code is not None and not (len(region_code) == 6 and region_code.isdigit()):
        raise InvalidInput("行政区划代码应为 6 位数字", code="BAD_REGION")
    parent = (parent_code or "").strip().upper() or None
    if parent is not None:
        if parent == code:
            raise InvalidInput("上级机构不能是其自身", code="BAD_PARENT")
        if s.get(FinancialInstitution, parent) is None:
            raise InvalidInput(f"上级机构 {parent} 尚未接入", code="UNKNOWN_PARENT")
    if s.get(FinancialInstitution, code) is not None:
        raise Conflict(f"统一社会信用代码为 {code} 的机构已接入", code="INSTITUTION_EXISTS")
    inst = FinancialInstitution(code=code, name=name, kind=kind, parent_code=parent, region_code=region_code,
                                contact=(contact or "").strip()[:200] or None, status="active",
                                rate_per_minute=int(rate_per_minute), created_at=clock.now(),
                                created_by=actor.username)
    s.add(inst)
    s.flush()
    audit.record(s, actor.username, "institution.onboarded", f"institution:{code}", institution_code=code,
                 name=name, kind=kind, parent_code=parent, rate_per_minute=inst.rate_per_minute)
    return inst


def search(s: Session, actor: Principal, q: str = "", *, status: str | None = None,
           req: PageRequest | None = None) -> Page:
    """Institutions by part of the name or a prefix of the code; a bank user finds only its own."""
    stmt = select(FinancialInstitution)
    if actor.role not in STAFF:
        if actor.role != "bank" or not actor.org_code:
            raise Forbidden("无权查看金融机构名录", code="INSTITUTION_FORBIDDEN")
        stmt = stmt.where(FinancialInstitution.code == actor.org_code)
    q = (q or "").strip()[:100]
    if q:
        esc = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(or_(FinancialInstitution.name.like(f"%{esc}%", escape="\\"),
                              FinancialInstitution.code.like(f"{esc.upper()}%", escape="\\")))
    if status:
        stmt = stmt.where(FinancialInstitution.status == status)
    return paginate(s, stmt, req or PageRequest(), SORTABLE, "created_at")


def get(s: Session, actor: Principal, code: str) -> FinancialInstitution:
    code = (code or "").strip().upper()
    _may_read(actor, code)
    inst = s.get(FinancialInstitution, code)
    if inst is None:
        raise NotFound(f"未找到统一社会信用代码为 {code} 的金融机构", code="INSTITUTION_NOT_FOUND")
    return inst


_TRANSITIONS = {  # action → (allowed from, to)
    "suspend": ({"active", "rectifying"}, "suspended"),
    "reactivate": ({"suspended"}, "active"),
    "revoke": ({"active", "rectifying", "suspended"}, "revoked"),
}


def change_status(s: Session, actor: Principal, code: str, action: str, reason: str) -> FinancialInstitution:
    """Suspend, reactivate or revoke an institution (operators only, with a reason).

    Suspension stops its users and credentials until reactivated; revocation is final and also revokes
    every credential, so a later mistake cannot bring them back."""
    _require_operator(actor)
    return _transition(s, actor, code, action, reason)


def sanction(s: Session, actor: Principal, code: str, action: str, reason: str) -> FinancialInstitution:
    """A security officer carries out a decided sanction proposal (network.sanctions): suspend or revoke."""
    if actor.role != "security":
        raise Forbidden("只有安全管理员可以执行暂停或取消接入的决定", code="ROLE_FORBIDDEN")
    if action not in ("suspend", "revoke"):
        raise InvalidInput("操作必须是 suspend 或 revoke", code="BAD_ACTION")
    return _transition(s, actor, code, action, reason)


def _transition(s: Session, actor: Principal, code: str, action: str, reason: str) -> FinancialInstitution:
    if action not in _TRANSITIONS:
        raise InvalidInput("操作必须是 suspend、reactivate 或 revoke", code="BAD_ACTION")
    why = _reason(reason)
    inst = get(s, actor, code)
    allowed, target = _TRANSITIONS[action]
    if inst.status not in allowed:
        raise Conflict(f"机构当前状态为「{INSTITUTION_STATUSES.get(inst.status, inst.status)}」，不能执行该操作",
                       code="BAD_TRANSITION")
    before = inst.status
    inst.status = target
    inst.status_reason = why
    if target == "revoked":
        now = clock.now()
        for cred in s.execute(select(ApiCredential).where(ApiCredential.institution_code == inst.code,
                                                          ApiCredential.status != "revoked")).scalars():
            cred.status = "revoked"
            cred.revoked_at = now
    audit.record(s, actor.username, f"institution.{action}", f"institution:{inst.code}",
                 institution_code=inst.code, before=before, after=target, reason=why)
    return inst


# Rectification (整改, point 10): an operator or security officer sets a deadline; the institution keeps
# working meanwhile (request_auth.WORKING), and the network's daily job reminds it and, once the deadline
# has passed, proposes a suspension that two security officers decide.
RECTIFIERS = ("operator", "security")


def rectify(s: Session, actor: Principal, code: str, deadline: date, reason: str) -> FinancialInstitution:
    if actor.role not in RECTIFIERS:
        raise Forbidden("只有平台运营人员或安全管理员可以要求金融机构整改", code="ROLE_FORBIDDEN")
    why = _reason(reason)
    inst = get(s, actor, code)
    if inst.status != "active":
        raise Conflict(f"机构当前状态为「{INSTITUTION_STATUSES.get(inst.status, inst.status)}」，只有正常接入的机构可以要求整改",
                       code="BAD_TRANSITION")
    if deadline <= clock.today():
        raise InvalidInput("整改期限须晚于今天", code="BAD_DEADLINE")
    inst.status, inst.status_reason, inst.rectify_deadline = "rectifying", why, deadline
    audit.record(s, actor.username, "institution.rectifying", f"institution:{inst.code}",
                 institution_code=inst.code, reason=why, deadline=deadline.isoformat())
    return inst


def restore(s: Session, actor: Principal, code: str, reason: str) -> FinancialInstitution:
    """Rectified: back from 整改中 to 正常 (a suspension is lifted with `change_status(..., "reactivate")`)."""
    if actor.role not in RECTIFIERS:
        raise Forbidden("只有平台运营人员或安全管理员可以确认整改完成", code="ROLE_FORBIDDEN")
    why = _reason(reason)
    inst = get(s, actor, code)
    if inst.status != "rectifying":
        raise Conflict("只有整改中的机构可以恢复", code="BAD_TRANSITION")
    inst.status, inst.status_reason, inst.rectify_deadline = "active", why, None
    audit.record(s, actor.username, "institution.restored", f"institution:{inst.code}",
                 institution_code=inst.code, reason=why)
    return inst


def institution_dict(inst: FinancialInstitution) -> dict:
    return {"code": inst.code, "name": inst.name, "kind": inst.kind, "parent_code": inst.parent_code,
            "region_code": inst.region_code, "contact": inst.contact, "status": inst.status,
            "status_label": INSTITUTION_STATUSES.get(inst.status, inst.status),
            "status_reason": inst.status_reason,
            "rectify_deadline": inst.rectify_deadline.isoformat() if inst.rectify_deadline else None,
            "rate_per_minute": inst.rate_per_minute,
            "created_at": inst.created_at.isoformat(), "created_by": inst.created_by}


# ── institution users ───────────────────────────────────────────────────────────────────────────────────

def add_user(s: Session, actor: Principal, code: str, *, username: str, display_name: str, password: str,
             org_admin: bool = False) -> User:
    """A user of the institution (role `bank`). Operators add anyone; the institution's own administrator
    adds ordinary colleagues (see `colleagues`)."""
    _require_operator(actor)
    inst = get(s, actor, code)
    if inst.status == "revoked":
        raise Conflict("该机构已撤销，不能再添加用户", code="INSTITUTION_REVOKED")
    display = (display_name or "").strip() or username
    u = accounts.create_user(s, username=username, display_name=display[:100], role="bank", password=password,
                             org_code=inst.code, actor=actor.username)
    u.org_admin = bool(org_admin)
    audit.record(s, actor.username, "institution.user_added", f"user:{u.username}", institution_code=inst.code,
                 org_admin=u.org_admin)
    return u


def list_users(s: Session, actor: Principal, code: str) -> list[User]:
    inst = get(s, actor, code)
    return list(s.execute(select(User).where(User.role == "bank", User.org_code == inst.code)
                          .order_by(User.org_admin.desc(), User.username)).scalars())


def set_user_active(s: Session, actor: Principal, code: str, user_id: int, active: bool,
                    reason: str = "") -> User:
    """Disable (or re-enable) an institution user; disabling ends their sessions at once."""
    _require_operator(actor)
    inst = get(s, actor, code)
    u = s.get(User, user_id)
    if u is None or u.role != "bank" or u.org_code != inst.code:
        raise NotFound("该机构下没有这个用户", code="USER_NOT_FOUND")
    u.active = bool(active)
    if not active:
        s.execute(delete(LoginSession).where(LoginSession.user_id == u.id))
    audit.record(s, actor.username, "user.enabled" if active else "user.disabled", f"user:{u.username}",
                 institution_code=inst.code, reason=(reason or "").strip()[:500])
    return u


# ── credentials ─────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class IssuedKey:
    """A newly issued API key: `token` is shown to the operator once and never stored."""

    credential: ApiCredential
    token: str


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """`xyd_<key_id>.<secret>` → (key_id, secret), or None when it does not have that shape."""
    token = (token or "").strip()
    if not token.startswith(KEY_PREFIX) or "." not in token:
        return None
    key_id, _, secret = token[len(KEY_PREFIX):].partition(".")
    if not _KEY_ID.match(key_id) or not 20 <= len(secret) <= 100:
        return None
    return key_id, secret


def _new_key_id(s: Session) -> str:
    while True:
        key_id = secrets.token_hex(8)
        if s.get(ApiCredential, key_id) is None:
            return key_id


def _expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is not None and expires_at <= clock.now():
        raise InvalidInput("有效期截止时间必须晚于当前时间", code="BAD_EXPIRY")
    return expires_at


def _active_institution(s: Session, actor: Principal, code: str) -> FinancialInstitution:
    inst = get(s, actor, code)
    if inst.status == "revoked":
        raise Conflict("该机构已撤销，不能再签发凭证", code="INSTITUTION_REVOKED")
    return inst


def issue_api_key(s: Session, actor: Principal, code: str, *, label: str = "",
                  expires_at: datetime | None = None) -> IssuedKey:
    """A new API key for the institution; the returned token is the only copy of the secret."""
    _require_operator(actor)
    inst = _active_institution(s, actor, code)
    key_id = _new_key_id(s)
    secret = secrets.token_urlsafe(32)
    cred = ApiCredential(key_id=key_id, institution_code=inst.code, kind="api_key", secret_hash=secret_hash(secret),
                         label=(label or "").strip()[:100], status="active", created_at=clock.now(),
                         created_by=actor.username, expires_at=_expiry(expires_at))
    s.add(cred)
    s.flush()
    audit.record(s, actor.username, "credential.issued", f"credential:{key_id}", institution_code=inst.code,
                 kind="api_key", label=cred.label, expires_at=expires_at)
    return IssuedKey(cred, f"{KEY_PREFIX}{key_id}.{secret}")


def register_public_key(s: Session, actor: Principal, code: str, *, kind: str, public_key: str, label: str = "",
                        expires_at: datetime | None = None) -> ApiCredential:
    """Register a public key with which the institution signs its requests (SM2 or Ed25519)."""
    _require_operator(actor)
    if kind not in SIGNING_KINDS:
        raise InvalidInput(f"签名密钥类型必须是 {'、'.join(SIGNING_KINDS)} 之一", code="BAD_CREDENTIAL_KIND")
    inst = _active_institution(s, actor, code)
    stored = signing_keys.normalise_public_key(kind, public_key)
    clash = s.execute(select(ApiCredential.key_id).where(ApiCredential.public_key == stored,
                                                          ApiCredential.status != "revoked")).first()
    if clash:
        raise Conflict(f"该公钥已登记为凭证 {clash[0]}", code="PUBLIC_KEY_EXISTS")
    key_id = _new_key_id(s)
    cred = ApiCredential(key_id=key_id, institution_code=inst.code, kind=kind, public_key=stored,
                         label=(label or "").strip()[:100], status="active", created_at=clock.now(),
                         created_by=actor.username, expires_at=_expiry(expires_at))
    s.add(cred)
    s.flush()
    audit.record(s, actor.username, "credential.registered", f"credential:{key_id}", institution_code=inst.code,
                 kind=kind, label=cred.label, expires_at=expires_at)
    return cred


def list_credentials(s: Session, actor: Principal, code: str) -> list[ApiCredential]:
    inst = get(s, actor, code)
    return list(s.execute(select(ApiCredential).where(ApiCredential.institution_code == inst.code)
                          .order_by(ApiCredential.created_at.desc(), ApiCredential.key_id)).scalars())


def get_credential(s: Session, actor: Principal, code: str, key_id: str) -> ApiCredential:
    inst = get(s, actor, code)
    cred = s.get(ApiCredential, (key_id or "").strip())
    if cred is None or cred.institution_code != inst.code:
        raise NotFound("该机构下没有这个凭证", code="CREDENTIAL_NOT_FOUND")
    return cred


def rotate(s: Session, actor: Principal, code: str, key_id: str, *, grace_hours: int = DEFAULT_GRACE_HOURS,
           public_key: str | None = None) -> tuple[ApiCredential, IssuedKey | None]:
    """Replace a credential: a new API key (returned once), or a new public key for a signing credential.

    The old credential stays usable for `grace_hours` (its `expires_at` is brought forward, never pushed
    back) so the institution can switch over; 0 revokes it at once."""
    _require_operator(actor)
    if not 0 <= int(grace_hours) <= MAX_GRACE_HOURS:
        raise InvalidInput(f"过渡期应在 0 到 {MAX_GRACE_HOURS} 小时之间", code="BAD_GRACE")
    old = get_credential(s, actor, code, key_id)
    if old.status == "revoked":
        raise Conflict("已吊销的凭证不能轮换", code="CREDENTIAL_REVOKED")
    issued: IssuedKey | None = None
    if old.kind == "api_key":
        issued = issue_api_key(s, actor, code, label=old.label, expires_at=None)
        new = issued.credential
    else:
        if not public_key:
            raise InvalidInput("轮换签名密钥需要提供新的公钥", code="PUBLIC_KEY_REQUIRED")
        new = register_public_key(s, actor, code, kind=old.kind, public_key=public_key, label=old.label)
    now = clock.now()
    if int(grace_hours) == 0:
        old.status = "revoked"
        old.revoked_at = now
    else:
        until = now + timedelta(hours=int(grace_hours))
        old.expires_at = min(old.expires_at, until) if old.expires_at else until
    audit.record(s, actor.username, "credential.rotated", f"credential:{old.key_id}", institution_code=old.institution_code,
                 new_key_id=new.key_id, grace_hours=int(grace_hours), old_expires_at=old.expires_at)
    return new, issued


_CRED_TRANSITIONS = {
    "suspend": ({"active"}, "suspended"),
    "reactivate": ({"suspended"}, "active"),
    "revoke": ({"active", "suspended"}, "revoked"),
}


def change_credential_status(s: Session, actor: Principal, code: str, key_id: str, action: str,
                             reason: str) -> ApiCredential:
    """Suspend, reactivate or revoke (final) a credential, with a reason."""
    _require_operator(actor)
    if action not in _CRED_TRANSITIONS:
        raise InvalidInput("操作必须是 suspend、reactivate 或 revoke", code="BAD_ACTION")
    why = _reason(reason)
    cred = get_credential(s, actor, code, key_id)
    allowed, target = _CRED_TRANSITIONS[action]
    if cred.status not in allowed:
        raise Conflict(f"凭证当前状态为「{CREDENTIAL_STATUSES.get(cred.status, cred.status)}」，不能执行该操作",
                       code="BAD_TRANSITION")
    if action == "reactivate":
        inst = s.get(FinancialInstitution, cred.institution_code)
        if inst is not None and inst.status == "revoked":
            raise Conflict("机构已撤销，其凭证不能恢复", code="INSTITUTION_REVOKED")
    before = cred.status
    cred.status = target
    if target == "revoked":
        cred.revoked_at = clock.now()
    audit.record(s, actor.username, f"credential.{action}", f"credential:{cred.key_id}",
                 institution_code=cred.institution_code, before=before, after=target, reason=why)
    return cred


def credential_dict(c: ApiCredential) -> dict:
    """A credential as shown to people and programs: never its secret hash."""
    now = clock.now()
    return {"key_id": c.key_id, "institution_code": c.institution_code, "kind": c.kind,
            "kind_label": CREDENTIAL_KINDS.get(c.kind, c.kind), "label": c.label, "status": c.status,
            "status_label": CREDENTIAL_STATUSES.get(c.status, c.status),
            "expired": bool(c.expires_at and c.expires_at <= now), "public_key": c.public_key,
            "created_at": c.created_at.isoformat(), "created_by": c.created_by,
            "expires_at": c.expires_at.isoformat() if c.expires_at else None,
            "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None}


def user_dict(u: User) -> dict:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
            "org_code": u.org_code, "org_admin": u.org_admin, "active": u.active,
            "created_at": u.created_at.isoformat(),
            "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}


# A bank user's organisation is its institution (`accounts.people.org_name`, e.g. the colleagues page).
people.ORG_NAMERS["bank"] = lambda s, code: s.execute(
    select(FinancialInstitution.name).where(FinancialInstitution.code == code)).scalar()
