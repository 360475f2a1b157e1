"""Tables of the enterprise's rights: objections and credit-repair applications with their steps and evidence,
credit commitments, and the import of the old provincial site's enterprises, accounts and authorizations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

OBJECTION_STATES = {"submitted": "待受理", "routed": "核查中", "answered": "已答复待办结", "concluded": "已办结",
                    "refused": "不予受理"}
OBJECTION_ROUTES = {"department": "提供部门核查", "network": "经节点网络转来源平台核查"}
OBJECTION_OUTCOMES = {"corrected": "已更正", "confirmed": "经核查属实，维持原记录", "undetermined": "无法确定，双方陈述并存"}
REPAIR_STATES = {"submitted": "待审核", "approved": "已修复", "refused": "未通过", "withdrawn": "已撤回"}
CASE_KINDS = {"objection": "异议", "repair": "信用修复"}
COMMITMENT_KINDS = {"general": "主动型信用承诺", "repair": "信用修复承诺", "self_report": "自报信息真实性承诺"}
MIGRATED_ACCOUNT_STATES = {"pending": "待验证", "verified": "已验证"}
MIGRATED_AUTH_STATES = {"draft": "待企业重新确认", "confirmed": "已重新确认", "declined": "企业已拒绝",
                        "expired": "已过期"}


class Objection(Base):
    """An enterprise's objection to a record about it (异议), from submission to its outcome.

    The record is named by (entity, category, record key) so the objection follows it through corrections;
    `record_id` is the version the enterprise objected to."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)  # YY20261208xxxx
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    category: Mapped[str] = mapped_column(Code(40), nullable=False)
    record_key: Mapped[str] = mapped_column(Code(300), nullable=False)
    record_id: Mapped[int] = mapped_column(BigId, nullable=False)
    complaint: Mapped[str] = mapped_column(Text, nullable=False)  # what is wrong, in the enterprise's words
    wanted: Mapped[str | None] = mapped_column(Text)  # what it should say
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="submitted")
    route: Mapped[str | None] = mapped_column(String(10))  # department / network
    department: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), index=True)
    feedback_id: Mapped[str | None] = mapped_column(String(60))  # FeedbackNote.external_id, route network
    outcome: Mapped[str | None] = mapped_column(String(12))
    provider_statement: Mapped[str | None] = mapped_column(Text)  # the department's / origin's answer
    decision_note: Mapped[str | None] = mapped_column(Text)  # the operator's reason (refusal, conclusion)
    corrected_record_id: Mapped[int | None] = mapped_column(BigId)
    raised_by: Mapped[str] = mapped_column(String(64), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)  # the whole objection's deadline
    stage_due_on: Mapped[date | None] = mapped_column(Date)  # the current step's (acceptance, verification)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_objections_state", "state", "due_on"),
                      Index("ix_objections_record", "entity_code", "category", "record_key"))


class RepairApplication(Base):
    """An enterprise's application to end a penalty's publication early (信用修复), after its minimum."""

    __tablename__ = "repair_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)  # XF20261208xxxx
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    category: Mapped[str] = mapped_column(Code(40), nullable=False)
    record_key: Mapped[str] = mapped_column(Code(300), nullable=False)
    record_id: Mapped[int] = mapped_column(BigId, nullable=False)
    grounds: Mapped[str] = mapped_column(Text, nullable=False)  # fine paid, rectified, …
    commitment_id: Mapped[int | None] = mapped_column(ForeignKey("credit_commitments.id"))
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="submitted")
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repaired_on: Mapped[date | None] = mapped_column(Date)
    new_record_id: Mapped[int | None] = mapped_column(BigId)  # the version that says 已信用修复
    applied_by: Mapped[str] = mapped_column(String(64), nullable=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_repair_applications_state", "state", "applied_at"),)


class CaseStep(Base):
    """One step of an objection or a repair application, in order; every step is shown to the enterprise."""

    __tablename__ = "rights_case_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_kind: Mapped[str] = mapped_column(String(10), nullable=False)  # objection / repair
    case_id: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_rights_case_steps_case", "case_kind", "case_id", "id"),)


class Evidence(Base):
    """A file an enterprise attached to an objection or a repair application (PDF, PNG, JPEG), type-checked
    by its bytes, kept in the database (backed up with it) with its SM3 digest."""

    __tablename__ = "rights_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    case_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    case_id: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    uploaded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_rights_evidence_case", "case_kind", "case_id"),)


class Commitment(Base):
    """A credit commitment (信用承诺书) the enterprise confirmed: exactly the text shown, its SM3 digest, who
    confirmed when. A later penalty within its scope breaks it (`broken_at`, flagged to the operator)."""

    __tablename__ = "credit_commitments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)  # CN20261208xxxx
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    scope: Mapped[str] = mapped_column(Text, nullable=False)  # catalogue categories it covers, comma-separated
    text: Mapped[str] = mapped_column(Text, nullable=False)
    text_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    confirmed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_until: Mapped[date | None] = mapped_column(Date)
    broken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    broken_record_id: Mapped[int | None] = mapped_column(BigId)
    broken_note: Mapped[str | None] = mapped_column(Text)


class MigrationImport(Base):
    """One import of the old provincial site's file (黑龙江站整体迁移) and its report."""

    __tablename__ = "migration_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # SM3: a file imports once
    imported_by: Mapped[str] = mapped_column(String(64), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # {kind: {imported, refused}}


class MigrationRow(Base):
    """One line of an import's report: what was imported or refused, and why."""

    __tablename__ = "migration_rows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("migration_imports.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    kind: Mapped[str] = mapped_column(String(14), nullable=False)  # enterprise / account / authorization
    row_no: Mapped[int] = mapped_column(Integer, nullable=False)
    ref: Mapped[str | None] = mapped_column(String(120))  # the credit code, username or old number
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)  # imported / refused
    code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)


class MigratedAccount(Base):
    """An account brought over from the old site: inactive until its holder re-verifies by one-time code."""

    __tablename__ = "migrated_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("migration_imports.id"), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    phone: Mapped[str] = mapped_column(String(11), nullable=False)  # where the one-time code goes
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    code_hash: Mapped[str | None] = mapped_column(String(64))  # HMAC-SM3 of the current one-time code
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MigratedAuthorization(Base):
    """An authorization of the old site, carried over as a draft the enterprise must confirm again; only
    its confirmation creates a live `Authorization` (nothing is served under a draft)."""

    __tablename__ = "migrated_authorizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("migration_imports.id"), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    old_number: Mapped[str] = mapped_column(String(60), nullable=False)
    purpose: Mapped[str] = mapped_column(String(10), nullable=False)
    mode: Mapped[str] = mapped_column(String(10), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # catalogue categories
    valid_until: Mapped[date] = mapped_column(Date, nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="draft")
    authorization_id: Mapped[int | None] = mapped_column(BigId)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("uq_migrated_authorizations_old", "old_number", unique=True),)
