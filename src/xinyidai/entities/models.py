"""The register's table: market entities keyed by the unified social credit code."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

ENTITY_KINDS = ("企业", "个体工商户", "其他组织")
ENTITY_STATUSES = ("存续", "在业", "注销", "吊销", "迁出", "停业", "撤销")


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
