"""Tables: financial institutions, their machine credentials, and the nonces of signed requests."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import Code

INSTITUTION_KINDS = ("银行", "银行分支机构", "信用服务机构", "担保机构", "小额贷款公司")
INSTITUTION_STATUSES = {"active": "正常", "rectifying": "整改中", "suspended": "已暂停", "revoked": "已撤销"}
CREDENTIAL_KINDS = {"api_key": "API 密钥", "sm2": "SM2 公钥签名", "ed25519": "Ed25519 公钥签名"}
CREDENTIAL_STATUSES = {"active": "有效", "suspended": "已暂停", "revoked": "已吊销"}


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
    rectify_deadline: Mapped[date | None] = mapped_column(Date)  # while 整改中
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


class Processor(Base):
    """A third party that processes data for an institution (数据处理受托方, notice point 九): named in the
    authorizations the enterprise confirms, carried on exports, shown to the enterprise. A processor whose
    contract has ended, or that was withdrawn, is no longer named in new authorizations."""

    __tablename__ = "institution_processors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    institution_code: Mapped[str] = mapped_column(ForeignKey("institutions.code"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    credit_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    categories: Mapped[str] = mapped_column(Text, nullable=False)  # catalogue codes, comma-separated
    contract_end: Mapped[date] = mapped_column(Date, nullable=False)
    declared_by: Mapped[str] = mapped_column(String(64), nullable=False)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
