"""Tables of the financing market: products and their versions, financing needs and quotes, applications and
their timeline, loans and repayment status reports, default cases with their reminders, post-loan alerts,
and the banks' feedback files.

Money is kept in 分 (`*_fen`, BIGINT): sums are exact and fast on both engines. Rates are basis points of an
annual percentage (`*_bp`: 3.85 % → 385). Flags the figures sum are 0/1 small integers, because PostgreSQL
cannot sum a boolean and a plain sum is the cheapest aggregate on both engines."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

# The kinds of security of a product (担保方式/产品类别): the four classic ones and the seed's special kinds.
PRODUCT_KINDS = ("纯信用", "保证", "抵押", "质押", "订单融资", "仓单融资", "保单融资", "存货融资", "应收账款融资",
                 "知识产权质押", "政府性融资担保")
# Sector tags (notice point 十二), as bits so a product and its loans carry a set in one integer.
SECTORS = {"制造业": 1, "战略性新兴产业": 2, "三农": 4, "生态环保": 8, "外贸": 16, "科技": 32}
# A loan's own security, as banks' loan ledgers record it; 信用 is what the credit-loan share counts.
GUARANTEE_TYPES = ("信用", "保证", "抵押", "质押")
LOAN_STATUSES = {"GRANTED": "已授信", "DISBURSED": "已放款", "CLOSED": "已结清"}
RISK_CLASSES = ("正常", "关注", "次级", "可疑", "损失")


class Product(Base):
    """A bank's loan product: its identity; the terms live in its versions."""

    __tablename__ = "market_products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    origin_node: Mapped[str] = mapped_column(String(20), nullable=False)
    # The version published or suspended now (None until one is published); status mirrors it for lists.
    live_version_id: Mapped[int | None] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ProductVersion(Base):
    """One version of a product's terms; every change is a new version (flows.PRODUCT)."""

    __tablename__ = "market_product_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("market_products.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False, index=True)
    last_action: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(12), nullable=False)  # one of PRODUCT_KINDS
    sector_mask: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    amount_min_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_max_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    term_min_months: Mapped[int] = mapped_column(Integer, nullable=False)
    term_max_months: Mapped[int] = mapped_column(Integer, nullable=False)
    rate_min_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    rate_max_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    regions: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # GB/T 2260; a prefecture covers its counties
    industries: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # GB/T 4754 sections/divisions; [] = all
    # Eligibility as data: {"min_grade": "B", "min_years": 2, "no_serious_dishonesty": true}.
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # The 贷前审查 authorization an application drafts: categories, mode, days.
    auth_categories: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    auth_mode: Mapped[str] = mapped_column(String(12), nullable=False)
    auth_days: Mapped[int] = mapped_column(Integer, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SM3 of the canonical terms
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_by: Mapped[str | None] = mapped_column(String(10))  # bank / operator: who may resume
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 1 while a public state of this version (published, suspended, withdrawn, superseded) has not yet been
    # queued for the parent node; cleared by the collector only if the state is still the one it sent.
    dirty: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0, server_default="0", index=True)

    __table_args__ = (
        UniqueConstraint("product_id", "version", name="uq_market_product_versions"),
        CheckConstraint("amount_min_fen > 0 AND amount_min_fen <= amount_max_fen", name="ck_mpv_amount"),
        CheckConstraint("term_min_months > 0 AND term_min_months <= term_max_months", name="ck_mpv_term"),
        CheckConstraint("rate_min_bp > 0 AND rate_min_bp <= rate_max_bp", name="ck_mpv_rate"),
    )


class Demand(Base):
    """A published financing need (融资需求) banks answer with quotes (flows.DEMAND)."""

    __tablename__ = "market_demands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    last_action: Mapped[str] = mapped_column(String(20), nullable=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    term_months: Mapped[int] = mapped_column(Integer, nullable=False)
    purpose: Mapped[str] = mapped_column(String(200), nullable=False)
    kinds: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # acceptable kinds of security
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    picked_quote_id: Mapped[int | None] = mapped_column(BigId)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_market_demands_state", "state", "expires_at"),
                      CheckConstraint("amount_fen > 0", name="ck_market_demands_amount"))


class Quote(Base):
    """A bank's answer to a need (报价), under one of its published products."""

    __tablename__ = "market_quotes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("market_demands.id"), nullable=False, index=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    product_version_id: Mapped[int] = mapped_column(ForeignKey("market_product_versions.id"), nullable=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rate_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    term_months: Mapped[int] = mapped_column(Integer, nullable=False)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state: Mapped[str] = mapped_column(String(12), nullable=False)  # MADE / PICKED / NOT_PICKED / WITHDRAWN
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("institution_code", "request_id", name="uq_market_quotes_request"),)


class Application(Base):
    """An enterprise's application to a bank (flows.APPLICATION), with the latest offer denormalised."""

    __tablename__ = "market_applications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    bank_code: Mapped[str] = mapped_column(Code(18), nullable=False)  # the head office, for "by bank"
    city_code: Mapped[str] = mapped_column(String(6), nullable=False)  # the prefecture at submission
    product_id: Mapped[int] = mapped_column(ForeignKey("market_products.id"), nullable=False)
    product_version_id: Mapped[int] = mapped_column(ForeignKey("market_product_versions.id"), nullable=False)
    demand_id: Mapped[int | None] = mapped_column(BigId)
    quote_id: Mapped[int | None] = mapped_column(BigId)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    last_action: Mapped[str] = mapped_column(String(20), nullable=False)
    state_since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    term_months: Mapped[int] = mapped_column(Integer, nullable=False)
    purpose: Mapped[str] = mapped_column(String(200), nullable=False)
    authorization_number: Mapped[str] = mapped_column(String(32), nullable=False)
    offer_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    offer_rate_bp: Mapped[int | None] = mapped_column(Integer)
    offer_term_months: Mapped[int | None] = mapped_column(Integer)
    offer_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The service-level clock of the current state (rules.yaml): when it is due, when it expires, breaches.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breaches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reason_code: Mapped[str | None] = mapped_column(String(8))
    reason_note: Mapped[str | None] = mapped_column(Text)
    loan_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_market_applications_queue", "institution_code", "state", "due_at"),
        Index("ix_market_applications_entity", "entity_code", "submitted_at"),
        Index("ix_market_applications_sla", "state", "due_at"),
        CheckConstraint("amount_fen > 0", name="ck_market_applications_amount"),
    )


class ApplicationEvent(Base):
    """One move of an application: the timeline both parties read, and the store of request ids."""

    __tablename__ = "market_application_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("market_applications.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    from_state: Mapped[str] = mapped_column(String(16), nullable=False)
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_org: Mapped[str | None] = mapped_column(Code(18))
    request_id: Mapped[str | None] = mapped_column(String(64))
    request_digest: Mapped[str | None] = mapped_column(String(64))
    acted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # when the party says it acted
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # when the platform recorded it
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    source: Mapped[str] = mapped_column(String(8), nullable=False)  # page / api / file / system

    __table_args__ = (UniqueConstraint("application_id", "seq", name="uq_market_application_events_seq"),
                      UniqueConstraint("actor_org", "request_id", name="uq_market_application_events_request"))


class Loan(Base):
    """One 授信 made on the platform (local) or relayed from a lower node. Its number travels with it and is
    never re-keyed, so a province counts each city loan once. Default data (dpd, risk class) never leaves
    the node."""

    __tablename__ = "market_loans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_no: Mapped[str] = mapped_column(Code(60), nullable=False, unique=True)
    origin_node: Mapped[str] = mapped_column(String(20), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    bank_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    loan_ref: Mapped[str] = mapped_column(String(64), nullable=False)  # the bank's own number
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    city_code: Mapped[str] = mapped_column(String(6), nullable=False)
    industry_code: Mapped[str | None] = mapped_column(String(5))
    application_id: Mapped[int | None] = mapped_column(BigId)
    product_number: Mapped[str] = mapped_column(Code(40), nullable=False)
    product_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    sector_mask: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    guarantee_type: Mapped[str] = mapped_column(String(4), nullable=False)
    is_credit: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    first_declared: Mapped[int] = mapped_column(SmallInteger, nullable=False)  # the bank's 首贷户标识
    first_on_platform: Mapped[int] = mapped_column(SmallInteger, nullable=False)  # no earlier loan here
    first_loan: Mapped[int] = mapped_column(SmallInteger, nullable=False)  # what the figures count
    granted_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credit_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)  # granted_fen when 信用, else 0
    first_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)  # granted_fen when a first loan
    disbursed_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    outstanding_fen: Mapped[int | None] = mapped_column(BigInteger)
    granted_on: Mapped[date] = mapped_column(Date, nullable=False)
    granted_month: Mapped[int] = mapped_column(Integer, nullable=False)  # yyyymm
    first_disbursed_on: Mapped[date | None] = mapped_column(Date)
    matures_on: Mapped[date | None] = mapped_column(Date)
    rate_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    term_months: Mapped[int] = mapped_column(Integer, nullable=False)
    guarantor_code: Mapped[str | None] = mapped_column(Code(18))  # a government financing guarantor
    policy_tags: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    dpd: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    risk_class: Mapped[str | None] = mapped_column(String(4))
    last_report_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # 1 while this revision has not yet been queued for the parent node (cleared only if the revision is
    # still the one sent, so a change made meanwhile travels too).
    dirty: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=1, server_default="1", index=True)

    __table_args__ = (
        UniqueConstraint("institution_code", "loan_ref", name="uq_market_loans_ref"),
        # The figures' one grouped pass reads this index alone, in group order (see figures.py).
        Index("ix_market_loans_figures", "city_code", "bank_code", "product_kind", "sector_mask", "granted_month",
              "is_credit", "first_loan", "granted_fen", "credit_fen", "first_fen", "disbursed_fen"),
        Index("ix_market_loans_entity", "entity_code", "granted_on"),
        Index("ix_market_loans_institution", "institution_code", "granted_on"),
        # First-loan declarations the platform contradicts, which the figures count: a few per cent of the
        # loans, so this index stays small and the count reads it instead of the table.
        Index("ix_market_loans_first_contradicted", "granted_month",
              sqlite_where=text("first_declared = 1 AND first_on_platform = 0"),
              postgresql_where=text("first_declared = 1 AND first_on_platform = 0")),
        CheckConstraint("granted_fen > 0", name="ck_market_loans_granted"),
        CheckConstraint("disbursed_fen >= 0 AND disbursed_fen <= granted_fen", name="ck_market_loans_disbursed"),
        CheckConstraint("is_credit IN (0, 1) AND first_loan IN (0, 1)", name="ck_market_loans_flags"),
    )


class StatusReport(Base):
    """A repayment status report (还款状态) of one loan as of a date; monthly at least."""

    __tablename__ = "market_status_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("market_loans.id"), nullable=False)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    outstanding_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    overdue_principal_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    overdue_interest_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    interest_paid_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    dpd: Mapped[int] = mapped_column(Integer, nullable=False)
    risk_class: Mapped[str | None] = mapped_column(String(4))
    source: Mapped[str] = mapped_column(String(8), nullable=False)
    feedback_file_id: Mapped[int | None] = mapped_column(BigId)
    reported_by: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("loan_id", "as_of", name="uq_market_status_reports"),
                      CheckConstraint("dpd >= 0", name="ck_market_status_reports_dpd"))


class DefaultCase(Base):
    """A default response case (违约响应), opened by an overdue report (flows.DEFAULT_CASE)."""

    __tablename__ = "market_default_cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("market_loans.id"), nullable=False, index=True)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    city_code: Mapped[str] = mapped_column(String(6), nullable=False)
    state: Mapped[str] = mapped_column(String(14), nullable=False)
    last_action: Mapped[str] = mapped_column(String(20), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    dpd_at_open: Mapped[int] = mapped_column(Integer, nullable=False)
    latest_dpd: Mapped[int] = mapped_column(Integer, nullable=False)
    max_dpd: Mapped[int] = mapped_column(Integer, nullable=False)
    overdue_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_market_default_cases_city", "city_code", "state"),)


class CaseEvent(Base):
    __tablename__ = "market_case_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("market_default_cases.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    from_state: Mapped[str] = mapped_column(String(14), nullable=False)
    to_state: Mapped[str] = mapped_column(String(14), nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_market_case_events_seq"),)


class Reminder(Base):
    """A 催告 sent to the enterprise: each scheduled step once (unique), by SMS or on its portal."""

    __tablename__ = "market_reminders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("market_default_cases.id"), nullable=False)
    step: Mapped[str] = mapped_column(String(10), nullable=False)  # d1 / d7 / d15 …
    channel: Mapped[str] = mapped_column(String(8), nullable=False)  # sms / portal
    to_masked: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    delivered: Mapped[int] = mapped_column(SmallInteger, nullable=False)

    __table_args__ = (UniqueConstraint("case_id", "step", name="uq_market_reminders_step"),)


class AlertSubscription(Base):
    """A bank's wish to be alerted about an enterprise. It carries no authority: the live 贷后管理
    authorization is checked every time an alert is made and every time one is served."""

    __tablename__ = "market_alert_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    kinds: Mapped[list[str] | None] = mapped_column(JSON)  # None: every kind
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_market_alert_subscriptions_inst", "institution_code", "entity_code"),)


class Alert(Base):
    """A post-loan alert (贷后预警): an adverse record arrived about an enterprise a bank watches."""

    __tablename__ = "market_alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    record_id: Mapped[int] = mapped_column(BigId, nullable=False)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("institution_code", "record_id", name="uq_market_alerts_record"),
                      Index("ix_market_alerts_feed", "institution_code", "id"))


class Cursor(Base):
    """How far a market job has read a growing table (the alert job: credit_records ids)."""

    __tablename__ = "market_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId, nullable=False, default=0)


class FeedbackFile(Base):
    """A bank's feedback file (decisions or repayment status), loaded all or nothing with a row report."""

    __tablename__ = "market_feedback_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # decisions / status
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    file_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # accepted / rejected / duplicate
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_applied: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_market_feedback_files_digest", "institution_code", "kind", "file_digest"),)


class FeedbackIssue(Base):
    __tablename__ = "market_feedback_issues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("market_feedback_files.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    row_no: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(40))
    value: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)


class ApiRequest(Base):
    """A write to the market API under a request id (`X-Request-Id`) and the answer it got: the same id with
    the same body is answered again from here, another body is refused. The id is the caller's own: an
    institution's (all its users and credentials), an enterprise's, or a staff user's (`owner`)."""

    __tablename__ = "market_api_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SM3 of the operation and its body
    operation: Mapped[str] = mapped_column(String(255), nullable=False)  # "POST /api/v1/market/…"
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("owner", "request_id", name="uq_market_api_requests_request"),)
