"""Amounts and rates as people type them: what is meant is read, anything else refused with a code — even
numbers too large for the decimal context (a 500 before)."""

from __future__ import annotations

import pytest

from xinyidai.kit.errors import InvalidInput
from xinyidai.market.money import bp, fen, percent, wan, yuan


@pytest.mark.parametrize("typed,expected", [("1,234,567.89", 123_456_789), ("12.5", 1250), (" 3 ", 300),
                                            ("１００", 10_000)])
def test_amounts(typed: str, expected: int) -> None:
    assert fen(typed) == expected


@pytest.mark.parametrize("typed,code", [("1e999999", "AMOUNT_FORMAT"), ("-1e999999", "AMOUNT_FORMAT"),
                                        ("1e-999999", "AMOUNT_FORMAT"), ("0.001", "AMOUNT_FORMAT"),
                                        ("NaN", "AMOUNT_FORMAT"), ("abc", "AMOUNT_FORMAT"), ("-5", "NEGATIVE_AMOUNT"),
                                        ("0", "NEGATIVE_AMOUNT"), ("10000000000001", "AMOUNT_FORMAT")])
def test_refused_amounts(typed: str, code: str) -> None:
    with pytest.raises(InvalidInput) as e:
        fen(typed)
    assert e.value.code == code


@pytest.mark.parametrize("typed", ["1e999999", "0", "24.01", "3.851", "inf"])
def test_refused_rates(typed: str) -> None:
    with pytest.raises(InvalidInput) as e:
        bp(typed)
    assert e.value.code in ("RATE_OUT_OF_RANGE", "RATE_FORMAT")


def test_shown_back() -> None:
    assert (yuan(123_456_789), wan(123_456_789), percent(385), bp("3.85%")) == \
        ("1,234,567.89", "123.46 万元", "3.85%", 385)
