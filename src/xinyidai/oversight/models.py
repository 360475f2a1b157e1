"""Tables of oversight (notice points 十七 and 十八): the indicator systems as loaded, the runs that applied one
to a period (kept, never recomputed in place), each city's values and scores in a run, the 督办 tasks and
their steps, and the progress reports that go up the network.

A run is identified by its indicator version and period and a sequence number: the same version and period
give the stored run back; a later recomputation is a new run beside the old one, with the reason given."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

TASK_KINDS = {"notice": "通知主要任务", "province": "本省任务", "followup": "督办事项"}
TASK_STATES = {"open": "办理中", "answered": "已报整改", "done": "已办结", "returned": "退回重办"}
REPORT_KINDS = {"monthly": "月度报告", "on_demand": "专项报告"}
REPORT_STATES = {"draft": "待审核", "approved": "已审核", "sent": "已上报", "received": "下级报送"}


class IndicatorSystemVersion(Base):
    """An oversight indicator system as loaded: the YAML's parsed content and its digest. A version is loaded
    once; changing a system means a new version."""

    __tablename__ = "oversight_indicator_systems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SM3 of the canonical spec
    active: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    loaded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Run(Base):
    """One application of an indicator system to a period (months `period_start`..`period_end`, yyyymm)."""

    __tablename__ = "oversight_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    system_version: Mapped[str] = mapped_column(String(40), nullable=False)
    system_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    period_start: Mapped[int] = mapped_column(Integer, nullable=False)
    period_end: Mapped[int] = mapped_column(Integer, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    reason: Mapped[str | None] = mapped_column(Text)  # why a period was computed again
    cities: Mapped[int] = mapped_column(Integer, nullable=False)
    evidence: Mapped[int] = mapped_column(BigId, nullable=False)  # rows the period's measures rested on
    elapsed_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    computed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("system_version", "period_start", "period_end", "seq",
                                       name="uq_oversight_runs_period"),)


class RunValue(Base):
    """A city's value of one indicator in a run, with what it was computed from and its normalised score
    (0–100; None when the value is missing)."""

    __tablename__ = "oversight_run_values"

    run_id: Mapped[int] = mapped_column(ForeignKey("oversight_runs.id", ondelete="CASCADE"), primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    weighted: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)


class RunCity(Base):
    """A city's total and rank in a run; `missing` counts its indicators without a value."""

    __tablename__ = "oversight_run_cities"

    run_id: Mapped[int] = mapped_column(ForeignKey("oversight_runs.id", ondelete="CASCADE"), primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    total: Mapped[float] = mapped_column(Float, nullable=False)
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    missing: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Task(Base):
    """A 督办 item: one of the notice's main tasks, a task the province adds, or a follow-up opened for a unit
    by a run (an indicator under target or a city in the bottom places)."""

    __tablename__ = "oversight_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    clause: Mapped[str | None] = mapped_column(String(20))  # the notice's point, e.g. 十七
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    owner: Mapped[str] = mapped_column(String(200), nullable=False)  # the responsible unit
    city_code: Mapped[str | None] = mapped_column(String(6), index=True)
    deadline: Mapped[date] = mapped_column(Date, nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="open")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("oversight_runs.id"))
    indicator: Mapped[str | None] = mapped_column(String(40))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # A run opens at most one follow-up per city and indicator ("" stands for the ranking itself).
        UniqueConstraint("run_id", "city_code", "indicator", name="uq_oversight_tasks_followup"),
        Index("ix_oversight_tasks_state_deadline", "state", "deadline"),
    )


class TaskStep(Base):
    """What happened to a task, in order: opened, answered, returned, closed (the audit chain has it too; this
    is the timeline people read)."""

    __tablename__ = "oversight_task_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("oversight_tasks.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ProgressReport(Base):
    """A progress report: figures, ranking, progress against targets and the 督办 items, as data and as a
    signed PDF. Own reports are prepared, approved by a second person and sent to the parent; a child's
    arrive with `origin_node` set and are kept as received (`external_id` = sender + number)."""

    __tablename__ = "oversight_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(60), nullable=False, unique=True)
    origin_node: Mapped[str | None] = mapped_column(String(20), index=True)
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    node_name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    period_start: Mapped[int] = mapped_column(Integer, nullable=False)
    period_end: Mapped[int] = mapped_column(Integer, nullable=False)
    run_number: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_digest: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the node's signature over data + PDF digest
    prepared_by: Mapped[str] = mapped_column(String(64), nullable=False)
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
