"""Tables of data governance: the providing departments and their accounts' organisation, the sources the node
pulls from (front databases, REST interfaces) and each pull, the versioned quality rule sets, each run of them
with its findings and the providers' scores, and the tickets that carry a problem to a department until a
re-check closes it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId

# GB/T 36344-2018 数据质量评价指标: the six dimensions every rule belongs to.
DIMENSIONS = {"conformity": "规范性", "completeness": "完整性", "accuracy": "准确性", "consistency": "一致性",
              "timeliness": "时效性", "accessibility": "可访问性"}
SEVERITIES = {"low": "提示", "medium": "一般", "high": "严重"}
SOURCE_KINDS = {"database": "前置库", "rest": "REST 接口"}
SOURCE_STATES = {"new": "未拉取", "ok": "正常", "failing": "失败重试中", "paused": "已暂停"}
PULL_STATUSES = {"running": "拉取中", "loaded": "已入库", "nothing": "无新数据", "duplicate": "重复，未变更",
                 "rejected": "整批拒收", "failed": "失败"}
RUN_STATUSES = {"running": "运行中", "done": "已完成", "failed": "失败"}
TICKET_STATES = {"open": "待整改", "answered": "已答复待复核", "closed": "已关闭"}
TICKET_ORIGINS = {"finding": "规则发现", "operator": "人工判断", "feedback": "上级节点反馈"}


class Department(Base):
    """A providing department (数据提供部门). `name` is how its deliveries name it (Delivery.provider,
    CreditRecord.provider); its staff log in with role `department` and org_code = `code`."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    contact: Mapped[str | None] = mapped_column(String(200))
    # The administrative division it serves (230000 a provincial department, 230100 Harbin's): a city's
    # departments' overdue tickets count against that city in the oversight indicators.
    region: Mapped[str | None] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Source(Base):
    """Where the node pulls a department's data from. The URL never holds a password and the table never holds
    a token: `secret_ref` names where the secret lives (`env:NAME` or `file:/path`), read at each pull."""

    __tablename__ = "quality_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # database / rest
    department: Mapped[str] = mapped_column(ForeignKey("departments.code"), nullable=False, index=True)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    secret_ref: Mapped[str | None] = mapped_column(String(300))
    target: Mapped[str] = mapped_column(Text, nullable=False)  # table name or SELECT; for REST the JSON path of rows
    mapping: Mapped[str] = mapped_column(Text, nullable=False)  # JSON {source column: catalogue item code}
    watermark_column: Mapped[str] = mapped_column(String(100), nullable=False)
    watermark: Mapped[str | None] = mapped_column(String(100))  # the last value loaded, as text
    every_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=1440)
    batch_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=50_000)
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="new")
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # in a row, for the backoff
    last_error_code: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class SourcePull(Base):
    """One pull from a source: the watermark range it covered and the delivery it became."""

    __tablename__ = "quality_source_pulls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("quality_sources.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="running")
    watermark_from: Mapped[str | None] = mapped_column(String(100))
    watermark_to: Mapped[str | None] = mapped_column(String(100))
    rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    delivery_id: Mapped[int | None] = mapped_column(BigId)
    error_code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_quality_source_pulls_source", "source_id", "id"),)


class RuleSet(Base):
    """One version of the quality rules, kept as the YAML text that was checked and loaded."""

    __tablename__ = "quality_rule_sets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SM3 of the text
    text: Mapped[str] = mapped_column(Text, nullable=False)
    rules: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(String(200))
    loaded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class QualityRun(Base):
    """One run of a rule set (or of one rule, for a ticket's re-check) over the stored data."""

    __tablename__ = "quality_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_set_version: Mapped[int] = mapped_column(ForeignKey("quality_rule_sets.version"), nullable=False)
    scope: Mapped[str] = mapped_column(String(120), nullable=False, default="all")  # all, or rule:<id>[@provider]
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="running", index=True)
    current_rule: Mapped[str | None] = mapped_column(String(80))
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # rules to run
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    findings: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Finding(Base):
    """What one rule found for one provider (and category, item) in one run: how many records are affected out of
    how many, a sample of them, and how serious it is. A rule that passes leaves no finding."""

    __tablename__ = "quality_findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("quality_runs.id", ondelete="CASCADE"), nullable=False)
    rule_id: Mapped[str] = mapped_column(String(80), nullable=False)
    dimension: Mapped[str] = mapped_column(String(16), nullable=False)
    severity: Mapped[str] = mapped_column(String(8), nullable=False)
    provider: Mapped[str] = mapped_column(String(100), nullable=False)
    category: Mapped[str | None] = mapped_column(String(40))
    item: Mapped[str | None] = mapped_column(String(60))
    affected: Mapped[int] = mapped_column(BigId, nullable=False)
    population: Mapped[int | None] = mapped_column(BigId)
    measure: Mapped[float | None] = mapped_column(Float)  # the rule's figure: a rate, days late, a ratio …
    sample: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list of {entity_code, record_key, detail}
    message: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_quality_findings_run", "run_id", "severity"),
                      Index("ix_quality_findings_rule", "rule_id", "provider"))


class ProviderScore(Base):
    """A provider's score (0–100) in one dimension, or `overall`, at one run: the scorecard and its trend."""

    __tablename__ = "quality_scores"

    run_id: Mapped[int] = mapped_column(ForeignKey("quality_runs.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    grade: Mapped[str] = mapped_column(String(2), nullable=False)  # A B C D

    __table_args__ = (Index("ix_quality_scores_provider", "provider", "dimension"),)


class Ticket(Base):
    """A problem carried to the providing department (整改工单), with a deadline, until a re-check closes it."""

    __tablename__ = "quality_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)
    department: Mapped[str] = mapped_column(ForeignKey("departments.code"), nullable=False, index=True)
    origin: Mapped[str] = mapped_column(String(10), nullable=False)  # finding / operator / feedback
    rule_id: Mapped[str | None] = mapped_column(String(80))
    finding_id: Mapped[int | None] = mapped_column(BigId)
    feedback_id: Mapped[str | None] = mapped_column(String(60), unique=True)  # FeedbackNote.external_id
    category: Mapped[str | None] = mapped_column(String(40))
    entity_code: Mapped[str | None] = mapped_column(String(18))
    record_key: Mapped[str | None] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(8), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="open")
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    affected: Mapped[int | None] = mapped_column(BigId)  # at opening, then at the last re-check
    opened_by: Mapped[str] = mapped_column(String(64), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closure: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_quality_tickets_state", "state", "due_on"),)


class TicketStep(Base):
    """One step on a ticket, in order: opened, answered (with a delivery or a correction), explained, re-checked,
    closed, reopened, reminded, escalated."""

    __tablename__ = "quality_ticket_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("quality_tickets.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    delivery_id: Mapped[int | None] = mapped_column(BigId)
    affected: Mapped[int | None] = mapped_column(BigId)

