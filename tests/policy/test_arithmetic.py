"""The money of claims against hand-worked cases, in Decimal, and the integer form the bulk SQL uses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.policy import arithmetic


def test_interest_by_hand() -> None:
    # 500 万元 at 1 个百分点 for the 90 days of a quarter over 360: 5,000,000 × 0.01 × 90 / 360 = 12,500.00 元.
    w = arithmetic.interest(500_000_000, 100, 90, 360)
    assert w.amount_fen == 1_250_000 and "12,500.00" in w.formula
    # 1,234,567.89 元 at 0.75 点 for 31 days / 365: 9,259.259175 × 31 / 365 = 786.4028… → 786.40 元.
    assert arithmetic.interest(123_456_789, 75, 31, 365).amount_fen == 78_640
    # Half a 分 rounds up, less rounds down: 30 元 × 0.06% × 100 / 360 = 0.005 元; 3 元 × the same = 0.0005 元.
    assert arithmetic.interest(3_000, 6, 100, 360).amount_fen == 1
    assert arithmetic.interest(300, 6, 100, 360).amount_fen == 0
    # Never above the interest the evidence shows was paid.
    w = arithmetic.interest(500_000_000, 100, 90, 360, paid_interest_fen=1_000_000)
    assert w.amount_fen == 1_000_000 and "以实付利息" in w.formula


def test_partial_period_days() -> None:
    # A loan drawn on 2026-02-15, claimed for the quarter from 2026-01-01 to 2026-03-31: 45 days subsidised.
    from datetime import date
    d = arithmetic.day
    assert arithmetic.overlap_days(d(date(2026, 1, 1)), d(date(2026, 4, 1)), d(date(2026, 2, 15)),
                                   d(date(2026, 2, 15)) + 365) == 45
    assert arithmetic.overlap_days(10, 20, 20, 30) == 0


def test_guarantee_subsidy_is_capped_by_the_fee() -> None:
    # 200 万 covered, subsidy 0.5% a year, fee 0.4%: for 180/360 days the subsidy would be 5,000 元 but the
    # fee charged was 4,000 元.
    w = arithmetic.guarantee(200_000_000, 50, 40, 180, 360)
    assert w.amount_fen == 400_000 and "担保费" in w.formula
    assert arithmetic.guarantee(200_000_000, 50, 100, 180, 360).amount_fen == 500_000


def test_compensation_and_recovery_pro_rata() -> None:
    # A loss of 80 万 at 40%: 32 万 paid; the bank later recovers 20 万, a quarter of the loss: 8 万 back.
    assert arithmetic.compensation(80_000_000, 4000).amount_fen == 32_000_000
    assert arithmetic.returned(20_000_000, 80_000_000, 32_000_000) == 8_000_000
    assert arithmetic.returned(1, 3, 1) == 0  # 1/3 分 rounds to nothing


def test_split_sums_to_the_amount() -> None:
    assert arithmetic.split(1_250_000, {"中央": 9000, "省级": 1000}) == {"中央": 1_125_000, "省级": 125_000}
    assert arithmetic.split(1, {"中央": 5000, "省级": 5000}) == {"中央": 1, "省级": 0}
    assert arithmetic.split(10, {"市级": 3333, "县级": 3333, "省级": 3334}) == {"省级": 4, "市级": 3, "县级": 3}


@given(st.integers(0, 10**12), st.integers(1, 1000), st.integers(0, 3660), st.sampled_from([360, 365]))
def test_the_integer_form_equals_decimal(basis: int, rate: int, days: int, day_basis: int) -> None:
    assert arithmetic.half_up_div(basis * rate * days, 10_000 * day_basis) == \
        arithmetic.interest(basis, rate, days, day_basis).amount_fen
    assert 2 * basis * rate * days + 10_000 * day_basis < 2**63  # the bounds of the rules keep SQL in BIGINT


@given(st.integers(0, 10**12), st.dictionaries(st.sampled_from(["中央", "省级", "市级", "县级"]), st.integers(1, 9999),
                                              min_size=1))
def test_split_property(amount: int, raw: dict[str, int]) -> None:
    total = sum(raw.values())
    shares = {k: v * 10_000 // total for k, v in raw.items()}
    first = next(iter(shares))
    shares[first] += 10_000 - sum(shares.values())
    if min(shares.values()) <= 0:
        return
    parts = arithmetic.split(amount, shares)
    assert sum(parts.values()) == amount
    for k, v in parts.items():
        assert abs(Decimal(v) - Decimal(amount) * shares[k] / 10_000) < len(shares)


@pytest.mark.parametrize("loss,share,paid", [(80_000_000, 3000, 24_000_000), (1, 3000, 0), (99, 5000, 50)])
def test_compensation_cases(loss: int, share: int, paid: int) -> None:
    assert arithmetic.compensation(loss, share).amount_fen == paid


def test_a_period_reads_with_both_ends_inclusive() -> None:
    start, after = date(2026, 7, 1).toordinal(), date(2026, 10, 1).toordinal()
    assert arithmetic.period_text(start, after) == "2026-07-01 至 2026-09-30"
    assert arithmetic.period_text(None, after) is None and arithmetic.period_text(start, None) is None
