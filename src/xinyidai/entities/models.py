"""Tables: market entities, users and their log-in sessions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
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
