"""Tables of the credit products: features as of a date, evaluation runs and results, indicator systems,
scorecard models and their monitoring, loan outcomes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

MODEL_STATUSES = {"draft": "待启用", "active": "在用", "challenger": "挑战者", "retired": "已停用"}
RUN_STATUSES = {"running": "进行中", "done": "已完成", "failed": "失败"}


class FeatureSnapshot(Base):
    """An entity's features as of a Beijing date (one JSON object per row: a scan decodes it vectorised)."""

    __tablename__ = "credit_features"

    entity_code: Mapped[str] = mapped_column(Code(18), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    feature_set: Mapped[str] = mapped_column(String(20), nullable=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)  # JSON {feature code: value}
    records: Mapped[int] = mapped_column(Integer, nullable=False)  # how many records they rest on
    unavailable: Mapped[str | None] = mapped_column(String(300))  # categories the region does not deliver
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_credit_features_as_of", "as_of"),)


class IndicatorSystem(Base):
    """A version of the public credit evaluation's indicator system (dimensions, indicators, points, grades)."""

    __tablename__ = "credit_indicator_systems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class ScorecardModel(Base):
    """A trained statistical scorecard; at most one is active, any number may score beside it as challengers."""

    __tablename__ = "credit_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="draft")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # Scorecard.to_dict()
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)  # training distributions
    training_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    trained_by: Mapped[str] = mapped_column(String(64), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("name", "version", name="uq_credit_models_name_version"),)


class ModelMonitor(Base):
    """One check of a model on fresh data: discrimination (if outcomes are known) and stability."""

    __tablename__ = "credit_model_monitoring"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("credit_models.id", ondelete="CASCADE"), nullable=False,
                                          index=True)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    outcomes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    auc: Mapped[float | None] = mapped_column(Float)
    ks: Mapped[float | None] = mapped_column(Float)
    gini: Mapped[float | None] = mapped_column(Float)
    psi: Mapped[float | None] = mapped_column(Float)
    psi_variables: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class LoanOutcome(Base):
    """How a loan turned out (from a bank's feedback): the label a scorecard learns from."""

    __tablename__ = "credit_outcomes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    loan_ref: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    applied_on: Mapped[date] = mapped_column(Date, nullable=False)  # features are taken as of this date
    observed_on: Mapped[date] = mapped_column(Date, nullable=False)
    defaulted: Mapped[bool] = mapped_column(Boolean, nullable=False)  # 90+ days past due within the window
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # csv: imported from a bank's file; market: a loan of the platform's market with its repayment reports.
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="csv", server_default="csv")

    __table_args__ = (UniqueConstraint("institution_code", "loan_ref", name="uq_credit_outcomes_loan"),)


class EvaluationRun(Base):
    __tablename__ = "credit_evaluation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    scope: Mapped[str] = mapped_column(String(12), nullable=False)  # all / changed / entity
    indicator_version: Mapped[str] = mapped_column(String(40), nullable=False)
    model_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="running")
    phase: Mapped[str | None] = mapped_column(String(20))
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    insufficient: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    grades: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False, default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Evaluation(Base):
    """One entity's result in one run by one method: the public evaluation or a scorecard."""

    __tablename__ = "credit_evaluations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    method: Mapped[str] = mapped_column(String(12), nullable=False)  # public / scorecard
    model_ref: Mapped[str] = mapped_column(String(60), nullable=False)  # indicator version, or model name:vN
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # ok / insufficient
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(4))
    moves: Mapped[str | None] = mapped_column(Text)  # "indicator:+points;…" the indicators that moved the score
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_credit_evaluations_entity", "entity_code", "as_of"),
                      Index("ix_credit_evaluations_run", "run_id"))
