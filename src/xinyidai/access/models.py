"""Tables: authorizations and their scopes, verification requests, anomaly alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

PURPOSES = ("贷前审查", "贷中管理", "贷后管理", "核验")
MODES = ("汇总查询", "核验比对", "原始明细")
# Stored states; 已过期 and 已用尽 are also derived from the window and the count when read.
AUTH_STATUSES = {"active": "有效", "revoked": "已撤销", "expired": "已过期", "exhausted": "已用尽"}
ALERT_STATUSES = {"open": "待处理", "closed": "已处理"}


class Authorization(Base):
    """An enterprise's electronic authorization (电子授权书) of one institution.

    `text` is exactly what the enterprise was shown and confirmed; `text_digest` is its SM3, so the record
    proves what was agreed. Queries join on this table: a request is served only under a live row."""

    __tablename__ = "authorizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)  # SQ20261128xxxxxxxx
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    purpose: Mapped[str] = mapped_column(String(10), nullable=False)
    mode: Mapped[str] = mapped_column(String(10), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="active")
    origin: Mapped[str] = mapped_column(String(20), nullable=False, default="enterprise")
    text: Mapped[str] = mapped_column(Text, nullable=False)
    text_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    confirmed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    scopes: Mapped[list[AuthorizationScope]] = relationship(
        back_populates="authorization", cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (
        Index("ix_authorizations_institution_entity", "institution_code", "entity_code", "status"),
        Index("ix_authorizations_entity", "entity_code", "status"),
    )


class AuthorizationScope(Base):
    """One category an authorization covers, with the items it is limited to (null = all items)."""

    __tablename__ = "authorization_scopes"

    authorization_id: Mapped[int] = mapped_column(ForeignKey("authorizations.id", ondelete="CASCADE"),
                                                  primary_key=True)
    category: Mapped[str] = mapped_column(Code(40), primary_key=True)
    items: Mapped[list[str] | None] = mapped_column(JSON)

    authorization: Mapped[Authorization] = relationship(back_populates="scopes")


class VerificationRequest(Base):
    """Claims an institution asked to verify, the answers and the signed receipt; one per request id."""

    __tablename__ = "verification_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    authorization_id: Mapped[int] = mapped_column(ForeignKey("authorizations.id"), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    claims: Mapped[list] = mapped_column(JSON, nullable=False)
    results: Mapped[list] = mapped_column(JSON, nullable=False)
    receipt: Mapped[dict] = mapped_column(JSON, nullable=False)  # the signed statement, as sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("institution_code", "request_id", name="uq_verification_request"),)


class AccessAlert(Base):
    """An anomaly a rule found in the access log (enumeration, bursts, off-hours, probing, refusals)."""

    __tablename__ = "access_alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    institution_code: Mapped[str | None] = mapped_column(Code(18), index=True)
    entity_code: Mapped[str | None] = mapped_column(Code(18))
    severity: Mapped[str] = mapped_column(String(8), nullable=False, default="warning")
    message: Mapped[str] = mapped_column(Text, nullable=False)
    detail: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    window_key: Mapped[str] = mapped_column(String(120), nullable=False)  # one alert per rule and window
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("rule", "window_key", name="uq_access_alert_window"),)
