"""Tables of policy money (notice point 十四): programmes and the versions of their rules, loans enrolled in
them (备案), claims with their timeline, the double-entry ledger every programme's money moves through, and
government guarantors' guarantee contracts.

As in the market, money is kept in 分 (BIGINT) and rates in basis points. Days are kept beside their dates as
day ordinals (`*_day`, `date.toordinal()`), so the bulk claim computation subtracts integers the same way on
SQLite and PostgreSQL."""

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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

# The three instruments of notice point 十四.
KINDS = {"interest": "贷款贴息", "guarantee": "担保费补贴", "pool": "风险补偿"}
PROGRAMME_STATES = {"DRAFT": "草稿", "ACTIVE": "实施中", "CLOSED": "已结束"}


class Programme(Base):
    """A policy programme of one region: its identity, period and budget; its rules live in versions."""

    __tablename__ = "policy_programmes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    region_code: Mapped[str] = mapped_column(String(6), nullable=False, index=True)
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(Date, nullable=False)  # inclusive
    budget_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False)
    rule_version: Mapped[int] = mapped_column(Integer, nullable=False)  # the version in force now
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (CheckConstraint("budget_fen > 0", name="ck_policy_programmes_budget"),
                      CheckConstraint("ends_on >= starts_on", name="ck_policy_programmes_period"))


class RuleVersion(Base):
    """The rules of a programme as they were from `valid_from` on; a claim names the version it used."""

    __tablename__ = "policy_rule_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("policy_programmes.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SHA-256 of the canonical rules
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("programme_id", "version", name="uq_policy_rule_versions"),)


class Enrolment(Base):
    """A loan enrolled (备案) in a programme by its bank — or, for a guarantee-fee programme, the government
    guarantor's contract on a loan. `eligible_fen`: the principal the programme covers for it (the
    per-enterprise cap already taken off); `starts_day`/`ends_day`: the days it may be subsidised."""

    __tablename__ = "policy_enrolments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("policy_programmes.id"), nullable=False)
    loan_id: Mapped[int] = mapped_column(BigId, nullable=False)
    loan_no: Mapped[str] = mapped_column(Code(60), nullable=False)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)  # who enrolled and claims
    bank_code: Mapped[str] = mapped_column(Code(18), nullable=False)  # the lending bank (ranking, caps)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    city_code: Mapped[str] = mapped_column(String(6), nullable=False)
    contract_id: Mapped[int | None] = mapped_column(BigId)
    eligible_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    starts_day: Mapped[int] = mapped_column(Integer, nullable=False)
    ends_day: Mapped[int] = mapped_column(Integer, nullable=False)  # exclusive
    rule_version: Mapped[int] = mapped_column(Integer, nullable=False)
    source: Mapped[str] = mapped_column(String(8), nullable=False)  # page / api / file / bulk
    enrolled_by: Mapped[str] = mapped_column(String(64), nullable=False)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("programme_id", "loan_id", name="uq_policy_enrolments_loan"),
                      Index("ix_policy_enrolments_loan", "loan_id"),
                      # Enterprise first: its own page reads its enrolments in every programme, and the cap's probe in
                      # `enrol_all` reaches them through the enterprise alone (see there).
                      Index("ix_policy_enrolments_entity", "entity_code", "programme_id"),
                      Index("ix_policy_enrolments_institution", "programme_id", "institution_code"),
                      CheckConstraint("eligible_fen > 0 AND ends_day > starts_day", name="ck_policy_enrolments"))


class Claim(Base):
    """A claim on a programme for one enrolled loan: 贴息 for a period of paid interest, a guarantee-fee
    subsidy for a period of cover, or compensation of a non-performing credit loan's principal loss.

    `amount_fen` is computed (see `arithmetic`) from `basis_fen`, `days` and the rules of `rule_version`,
    all kept here, so anyone can recompute it (`claims.recompute`), and how the cost falls on levels of
    government follows from the same version's shares (`claims.split_of`)."""

    __tablename__ = "policy_claims"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("policy_programmes.id"), nullable=False)
    enrolment_id: Mapped[int] = mapped_column(BigId, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    institution_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    bank_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    city_code: Mapped[str] = mapped_column(String(6), nullable=False)
    period_from_day: Mapped[int | None] = mapped_column(Integer)
    period_to_day: Mapped[int | None] = mapped_column(Integer)  # exclusive
    basis_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)  # principal, covered amount or loss
    days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    paid_interest_fen: Mapped[int | None] = mapped_column(BigInteger)  # as the evidence shows (贴息)
    rate_bp: Mapped[int] = mapped_column(Integer, nullable=False)  # the subsidy rate or compensation share
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rule_version: Mapped[int] = mapped_column(Integer, nullable=False)
    evidence_name: Mapped[str | None] = mapped_column(String(200))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_path: Mapped[str | None] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    last_action: Mapped[str] = mapped_column(String(12), nullable=False)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    payment_ref: Mapped[str | None] = mapped_column(String(64))
    paid_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(300))
    recovered_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # the bank's, after 代偿
    returned_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # paid back to the pool
    batch: Mapped[str | None] = mapped_column(String(40))  # claims computed together for one period
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_policy_claims_enrolment", "enrolment_id", "period_from_day"),
                      Index("ix_policy_claims_programme", "programme_id", "state"),
                      Index("ix_policy_claims_batch", "batch"),
                      CheckConstraint("amount_fen >= 0 AND basis_fen >= 0 AND days >= 0", name="ck_policy_claims"),
                      CheckConstraint("returned_fen <= amount_fen", name="ck_policy_claims_returned"))


class ClaimEvent(Base):
    __tablename__ = "policy_claim_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("policy_claims.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    from_state: Mapped[str] = mapped_column(String(10), nullable=False)
    to_state: Mapped[str] = mapped_column(String(10), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (UniqueConstraint("claim_id", "seq", name="uq_policy_claim_events_seq"),)


class LedgerEntry(Base):
    """One line of a programme's double-entry ledger. Each transaction (`txn`) is two or more lines whose
    debits equal their credits; accounts are `fund` (the money in hand), `budget` (appropriations),
    `contrib:<party>`, `payout:<institution>` and `recovery:<institution>`."""

    __tablename__ = "policy_ledger"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("policy_programmes.id"), nullable=False)
    txn: Mapped[str] = mapped_column(String(40), nullable=False)
    account: Mapped[str] = mapped_column(String(40), nullable=False)
    debit_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    credit_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    claim_id: Mapped[int | None] = mapped_column(BigId)
    memo: Mapped[str] = mapped_column(String(200), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_policy_ledger_programme", "programme_id", "account"),
                      CheckConstraint("debit_fen >= 0 AND credit_fen >= 0 AND (debit_fen = 0 OR credit_fen = 0)",
                                      name="ck_policy_ledger_sides"))


class GuaranteeContract(Base):
    """A government financing guarantor's contract on a loan the platform knows: the covered amount, the
    fee it charges (a rate a year) and, if it had to pay for the borrower, its 代偿."""

    __tablename__ = "policy_guarantee_contracts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Code(40), nullable=False, unique=True)
    guarantor_code: Mapped[str] = mapped_column(Code(18), nullable=False, index=True)
    contract_ref: Mapped[str] = mapped_column(String(64), nullable=False)  # the guarantor's own number
    loan_id: Mapped[int] = mapped_column(BigId, nullable=False, index=True)
    loan_no: Mapped[str] = mapped_column(Code(60), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    covered_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(Date, nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False)  # ACTIVE / COMPENSATED / ENDED
    compensated_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    compensated_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("guarantor_code", "contract_ref", name="uq_policy_guarantee_ref"),
                      CheckConstraint("covered_fen > 0 AND fee_bp >= 0 AND compensated_fen >= 0",
                                      name="ck_policy_guarantee_amounts"),
                      CheckConstraint("compensated_fen <= covered_fen", name="ck_policy_guarantee_compensated"))
