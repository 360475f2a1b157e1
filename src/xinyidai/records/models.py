"""Tables: deliveries (交付批次), their row issues, and versioned credit records."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

DELIVERY_STATUSES = {
    "processing": "处理中",
    "accepted": "已接收",
    "partial": "部分接收",
    "rejected": "整批拒收",
    "duplicate": "重复交付",
    "failed": "处理失败",
}
# File formats as people name them; "demo" marks batches the demo generator wrote straight to the store.
DELIVERY_FORMATS = {"csv": "CSV", "jsonl": "JSON Lines", "xlsx": "Excel", "demo": "演示数据"}
RECORD_STATUSES = {"current": "现行", "superseded": "已更正", "withdrawn": "已撤回"}


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    category: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    file_digest: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # SM3 of the bytes
    size_bytes: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    format: Mapped[str] = mapped_column(String(10), nullable=False)
    encoding: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="cli")  # cli / api / upload
    submitted_by: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="processing", index=True)
    phase: Mapped[str | None] = mapped_column(String(12))  # reading / writing / done, for the progress bar
    error_code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    threshold: Mapped[float] = mapped_column(nullable=False)
    duplicate_of: Mapped[int | None] = mapped_column(BigId)
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_new: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_changed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def rows_accepted(self) -> int:
        return self.rows_new + self.rows_changed + self.rows_unchanged

    @property
    def status_label(self) -> str:
        return DELIVERY_STATUSES.get(self.status, self.status)

    @property
    def format_label(self) -> str:
        return DELIVERY_FORMATS.get(self.format, self.format)

    @property
    def encoding_label(self) -> str | None:
        """The text encoding by its usual name (GBK, UTF-8), not Python's codec name (utf-8-sig)."""
        if not self.encoding:
            return None
        return "UTF-8（带 BOM）" if self.encoding.lower() in ("utf-8-sig", "utf_8_sig") else self.encoding.upper()

    @property
    def rows_passed_unstored(self) -> int:
        """Rows that passed every check yet were not stored, because the delivery was refused whole."""
        return max(0, self.rows_total - self.rows_rejected) if self.status == "rejected" else 0


class DeliveryIssue(Base):
    """One problem found in a delivery: a rejected row's field, or a warning about the file."""

    __tablename__ = "delivery_issues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False)
    row_no: Mapped[int | None] = mapped_column(Integer)  # data row number as a person counts (header = 1)
    field: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(8), nullable=False, default="error")  # error / warning
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_delivery_issues_delivery_row", "delivery_id", "row_no"),)


class CreditRecord(Base):
    __tablename__ = "credit_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    category: Mapped[str] = mapped_column(Code(40), nullable=False)
    record_key: Mapped[str] = mapped_column(Code(300), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON of the items
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)  # SM3 of `content`
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(100), nullable=False)
    delivery_id: Mapped[int | None] = mapped_column(BigId)
    row_no: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)  # why it was withdrawn
    # Records relayed from another node: the node where the record entered the network, and the neighbour
    # it came from (null for records loaded here). `received_at` is then the origin's time, the same on
    # every node, so "an older version never overwrites a newer one" means the same everywhere.
    origin_node: Mapped[str | None] = mapped_column(String(20))
    via_node: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        # Entity first: it serves an entity's page (all categories) and the loader's lookups alike, so no
        # separate entity index is needed; every index less is one less B-tree to update per loaded row.
        Index("uq_credit_records_version", "entity_code", "category", "record_key", "version", unique=True),
        # At most one current version of a record.
        Index("uq_credit_records_current", "entity_code", "category", "record_key", unique=True,
              sqlite_where=text("status = 'current'"), postgresql_where=text("status = 'current'")),
        # Withdrawals since a moment, for the relay: only withdrawn rows are in it, so loading pays nothing.
        Index("ix_credit_records_withdrawn", "superseded_at",
              sqlite_where=text("status = 'withdrawn'"), postgresql_where=text("status = 'withdrawn'")),
    )


MARK_KINDS = {"objection": "异议处理中", "disputed": "存在异议（双方陈述并存）"}


class RecordMark(Base):
    """A standing mark on a record, whatever its version: an objection under way (异议处理中), or one that
    ended undetermined (存在异议: the enterprise's and the provider's statements both kept and shown).

    Written by the rights domain; read by every place a record shows (its pages, banks' profiles, reports,
    verification answers, the evaluation). `lifted_at` set: no longer shown, kept for history."""

    __tablename__ = "record_marks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    category: Mapped[str] = mapped_column(Code(40), nullable=False)
    record_key: Mapped[str] = mapped_column(Code(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)  # objection / disputed
    ref: Mapped[str] = mapped_column(String(40), nullable=False)  # the objection's number
    # Shown beside the record: for `disputed`, both statements; for `objection`, what the enterprise says.
    statement: Mapped[str | None] = mapped_column(Text)
    provider_statement: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Live marks of one entity (every record page asks), and only live ones are indexed.
        Index("ix_record_marks_live", "entity_code", "category", "record_key",
              sqlite_where=text("lifted_at IS NULL"), postgresql_where=text("lifted_at IS NULL")),
        Index("ix_record_marks_ref", "ref"),
    )
