"""Tables: market entities, users and their log-in sessions, financial institutions and their credentials,
real-name registrations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

ENTITY_KINDS = ("企业", "个体工商户", "其他组织")
ENTITY_STATUSES = ("存续", "在业", "注销", "吊销", "迁出", "停业", "撤销")
USER_ROLES = {
    "operator": "平台运营人员",
    "bank": "金融机构客户经理",
    "enterprise": "企业用户",
    "regulator": "监管人员",
    "security": "安全管理员",
}


class MarketEntity(Base):
    __tablename__ = "entities"

    code: Mapped[str] = mapped_column(Code(18), primary_key=True)  # GB 32100 统一社会信用代码
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, default="企业")
    region_code: Mapped[str] = mapped_column(String(6), nullable=False, index=True)  # GB/T 2260
    industry_code: Mapped[str | None] = mapped_column(String(5), index=True)  # GB/T 4754-2017
    registered_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="存续")
    legal_rep: Mapped[str | None] = mapped_column(String(100))
    legal_rep_id: Mapped[str | None] = mapped_column(String(18))  # GB 11643; personal, masked when shared
    registered_capital: Mapped[float | None] = mapped_column()  # 万元
    address: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    source_delivery_id: Mapped[int | None] = mapped_column(BigId)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    org_code: Mapped[str | None] = mapped_column(String(40))  # the enterprise's USCC, the bank's code …
    # The organisation's administrator: an enterprise's verified (real-name) administrator who may add
    # colleagues, or an institution's admin.
    org_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSession(Base):
    __tablename__ = "login_sessions"

    # SHA-256 of the cookie's token: a stolen database does not yield usable sessions.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    client: Mapped[str | None] = mapped_column(String(200))


INSTITUTION_KINDS = ("银行", "银行分支机构", "信用服务机构", "担保机构", "小额贷款公司")
INSTITUTION_STATUSES = {"active": "正常", "suspended": "已暂停", "revoked": "已撤销"}
CREDENTIAL_KINDS = {"api_key": "API 密钥", "sm2": "SM2 公钥签名", "ed25519": "Ed25519 公钥签名"}
CREDENTIAL_STATUSES = {"active": "有效", "suspended": "已暂停", "revoked": "已吊销"}
REGISTRATION_STATUSES = {"pending": "待确认", "completed": "已完成", "expired": "已失效"}


class FinancialInstitution(Base):
    """A bank, branch or credit-service agency onboarded by an operator; its users carry its code."""

    __tablename__ = "institutions"

    code: Mapped[str] = mapped_column(Code(18), primary_key=True)  # its own 统一社会信用代码
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("institutions.code"))  # a branch's head office
    region_code: Mapped[str | None] = mapped_column(String(6))
    contact: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Requests per minute across its users and credentials; beyond it requests get 429 RATE_LIMITED.
    rate_per_minute: Mapped[int] = mapped_column(Integer, nullable=False, default=600)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class ApiCredential(Base):
    """A machine credential of an institution: an API key (only its SHA-256 is kept) or a public key with
    which the institution signs each request."""

    __tablename__ = "api_credentials"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_code: Mapped[str] = mapped_column(ForeignKey("institutions.code"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    public_key: Mapped[str | None] = mapped_column(Text)  # hex or PEM of the signing key
    label: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RequestNonce(Base):
    """Nonces of signed requests seen within the time window: a replayed request is refused."""

    __tablename__ = "request_nonces"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class RealNameRegistration(Base):
    """An application to become an entity's verified administrator (实名注册), confirmed by a one-time code.

    The ID number is never stored here: it is compared with the register and only its SM3 digest is kept."""

    __tablename__ = "realname_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    person_name: Mapped[str] = mapped_column(String(100), nullable=False)
    id_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    code_expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
