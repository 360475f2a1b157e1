"""The money of a claim, worked in `Decimal` and rounded once, half up, to the 分 — and the same sums in
integers for the bulk computation in SQL (`half_up_div`), which the tests hold equal to the `Decimal` form.

贴息 = principal × rate × days ÷ day basis (actual days over 360 by default, as 财金〔2025〕81号 computes it);
担保费补贴 = covered amount × rate × days ÷ day basis, never above the fee the guarantor charged for those days;
补偿 = principal loss × share. No subsidy exceeds the interest the evidence shows was paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from xinyidai.policy.rules import LEVELS

BP = Decimal(10_000)


def to_fen(d: Decimal) -> int:
    return int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def half_up_div(numerator: int, denominator: int) -> int:
    """round(n / d) half up, for n ≥ 0 and d > 0, in integers: what the SQL computation does."""
    return (2 * numerator + denominator) // (2 * denominator)


def overlap_days(a_from: int, a_to: int, b_from: int, b_to: int) -> int:
    """Days in both [a_from, a_to) and [b_from, b_to) (day ordinals)."""
    return max(0, min(a_to, b_to) - max(a_from, b_from))


@dataclass(frozen=True)
class Worked:
    """A computed amount and the figures it came from, in words for the claim page."""

    amount_fen: int
    basis_fen: int
    days: int
    rate_bp: int
    formula: str


def _yuan(f: int) -> str:
    return f"{Decimal(f) / 100:,.2f}"


def interest(basis_fen: int, rate_bp: int, days: int, day_basis: int, paid_interest_fen: int | None = None) -> Worked:
    exact = Decimal(basis_fen) * Decimal(rate_bp) / BP * Decimal(days) / Decimal(day_basis)
    amount = to_fen(exact)
    formula = (f"{_yuan(basis_fen)} 元 × {Decimal(rate_bp) / 100:g}% × {days} 天 ÷ {day_basis} "
               f"= {_yuan(amount)} 元")
    if paid_interest_fen is not None and amount > paid_interest_fen:
        amount = paid_interest_fen
        formula += f"，以实付利息 {_yuan(paid_interest_fen)} 元为限"
    return Worked(amount, basis_fen, days, rate_bp, formula)


def guarantee(covered_fen: int, rate_bp: int, fee_bp: int, days: int, day_basis: int) -> Worked:
    w = interest(covered_fen, rate_bp, days, day_basis)
    fee = to_fen(Decimal(covered_fen) * Decimal(fee_bp) / BP * Decimal(days) / Decimal(day_basis))
    if w.amount_fen > fee:
        return Worked(fee, covered_fen, days, rate_bp, w.formula + f"，以同期担保费 {_yuan(fee)} 元为限")
    return w


def compensation(loss_fen: int, share_bp: int) -> Worked:
    amount = to_fen(Decimal(loss_fen) * Decimal(share_bp) / BP)
    return Worked(amount, loss_fen, 0, share_bp,
                  f"本金损失 {_yuan(loss_fen)} 元 × 补偿比例 {Decimal(share_bp) / 100:g}% = {_yuan(amount)} 元")


def returned(recovered_fen: int, loss_fen: int, paid_fen: int) -> int:
    """What a recovery after compensation pays back to the pool: the pool's share of the loss, pro rata."""
    if loss_fen <= 0:
        return 0
    return to_fen(Decimal(recovered_fen) * Decimal(paid_fen) / Decimal(loss_fen))


def split(amount_fen: int, shares: dict[str, int]) -> dict[str, int]:
    """The cost of `amount_fen` per level of government, in whole 分 summing to the amount: each level its
    share rounded down, the 分 left over to the largest remainders (ties to the higher level)."""
    levels = sorted(shares, key=lambda lv: LEVELS.index(lv) if lv in LEVELS else len(LEVELS))
    base = {lv: amount_fen * shares[lv] // 10_000 for lv in levels}
    left = amount_fen - sum(base.values())
    by_remainder = sorted(levels, key=lambda lv: -((amount_fen * shares[lv]) % 10_000))
    for lv in by_remainder[:left]:
        base[lv] += 1
    return base


def day(d: date) -> int:
    return d.toordinal()


def from_day(n: int) -> date:
    return date.fromordinal(n)


def period_text(from_day_: int | None, to_day: int | None) -> str | None:
    """A claim's period as people read it, both ends inclusive (`to_day` is the day after the last); None
    when the claim covers no period (a compensation)."""
    if from_day_ is None or to_day is None:
        return None
    return f"{from_day(from_day_)} 至 {from_day(to_day - 1)}"
