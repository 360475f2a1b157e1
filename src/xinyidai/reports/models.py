"""Table of signed credit reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import Code


class CreditReport(Base):
    """A generated, signed report. Its content is the exact document rendered; the code lets anyone check it."""

    __tablename__ = "credit_reports"

    report_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    version: Mapped[str] = mapped_column(String(12), nullable=False)  # public / authorized
    recipient: Mapped[str | None] = mapped_column(Code(18))  # the institution, for an authorized version
    snapshot_date: Mapped[date] = mapped_column(Date, nullable=False)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    generated_by: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SM3 of the canonical content
    suite: Mapped[str] = mapped_column(String(8), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)
    verification_code: Mapped[str] = mapped_column(String(24), nullable=False, unique=True)
    pdf_digest: Mapped[str | None] = mapped_column(String(64))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # rendered once, so its digest stays checkable
