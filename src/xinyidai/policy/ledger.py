"""Each programme's money in double entry. A transaction is a set of lines whose debits equal their credits,
written in the transaction of the move that caused it (activation, a contribution, a payment, a recovery), so
the ledger balances after every commit and a refused move leaves no line.

Accounts: `fund` — money in hand (debit: in, credit: out); `budget` — the appropriation that funded it;
`contrib:<party>` — a contributor's money into a pool; `payout:<institution>` — subsidies and compensation
paid; `recovery:<institution>` — recoveries paid back to a pool."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.policy.models import LedgerEntry

FUND, BUDGET = "fund", "budget"


class Unbalanced(ValueError):
    """A transaction whose sides differ: a bug, never a user's mistake, so it is not a DomainError."""


@dataclass(frozen=True)
class Line:
    account: str
    debit_fen: int = 0
    credit_fen: int = 0


def post(s: Session, programme_id: int, lines: list[Line], memo: str, actor: str, claim_id: int | None = None) -> str:
    """Write one balanced transaction; returns its number."""
    if len(lines) < 2 or any(ln.debit_fen < 0 or ln.credit_fen < 0 or (ln.debit_fen and ln.credit_fen)
                             for ln in lines):
        raise Unbalanced(f"malformed transaction: {lines}")
    if sum(ln.debit_fen for ln in lines) != sum(ln.credit_fen for ln in lines):
        raise Unbalanced(f"debits differ from credits: {lines}")
    txn = f"T{clock.now():%Y%m%d}-{uuid.uuid4().hex[:12].upper()}"
    at = clock.now()
    for ln in lines:
        s.add(LedgerEntry(programme_id=programme_id, txn=txn, account=ln.account[:40], debit_fen=ln.debit_fen,
                          credit_fen=ln.credit_fen, claim_id=claim_id, memo=memo[:200], actor=actor[:64], at=at))
    s.flush()
    return txn


def transfer(s: Session, programme_id: int, debit: str, credit: str, amount_fen: int, memo: str, actor: str,
             claim_id: int | None = None) -> str:
    return post(s, programme_id, [Line(debit, debit_fen=amount_fen), Line(credit, credit_fen=amount_fen)], memo,
                actor, claim_id)


def fund_balance(s: Session, programme_id: int) -> int:
    """Money in hand: the fund account's debits less its credits."""
    row = s.execute(select(func.coalesce(func.sum(LedgerEntry.debit_fen), 0),
                           func.coalesce(func.sum(LedgerEntry.credit_fen), 0))
                    .where(LedgerEntry.programme_id == programme_id, LedgerEntry.account == FUND)).one()
    return int(row[0]) - int(row[1])


@dataclass(frozen=True)
class Totals:
    contributed_fen: int  # budget and contributions in
    paid_fen: int  # paid out
    recovered_fen: int  # paid back after compensation
    balance_fen: int  # in hand
    debits_fen: int  # every line's debits …
    credits_fen: int  # … equal every line's credits, always


def totals(s: Session, programme_id: int | None = None) -> Totals:
    """One pass over the programme's lines (or every programme's): what came in, went out, came back."""
    acc = LedgerEntry.account
    q = select(
        func.coalesce(func.sum(case((acc == BUDGET, LedgerEntry.credit_fen), (acc.like("contrib:%"),
                                                                             LedgerEntry.credit_fen), else_=0)), 0),
        func.coalesce(func.sum(case((acc.like("payout:%"), LedgerEntry.debit_fen - LedgerEntry.credit_fen),
                                    else_=0)), 0),
        func.coalesce(func.sum(case((acc.like("recovery:%"), LedgerEntry.credit_fen), else_=0)), 0),
        func.coalesce(func.sum(case((acc == FUND, LedgerEntry.debit_fen - LedgerEntry.credit_fen), else_=0)), 0),
        func.coalesce(func.sum(LedgerEntry.debit_fen), 0), func.coalesce(func.sum(LedgerEntry.credit_fen), 0))
    if programme_id is not None:
        q = q.where(LedgerEntry.programme_id == programme_id)
    r = s.execute(q).one()
    return Totals(*(int(x) for x in r))


def unbalanced_transactions(s: Session, programme_id: int | None = None) -> list[str]:
    """Transactions whose lines do not balance: always empty (the property test and the page check it)."""
    q = select(LedgerEntry.txn).group_by(LedgerEntry.txn).having(
        func.sum(LedgerEntry.debit_fen) != func.sum(LedgerEntry.credit_fen))
    if programme_id is not None:
        q = q.where(LedgerEntry.programme_id == programme_id)
    return list(s.execute(q).scalars())
