"""Amounts and rates as people write them and as the tables keep them: 元 as decimal text with at most two
places ↔ 分 as an integer; an annual rate in percent ↔ basis points; 万元 on pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from xinyidai.kit.errors import InvalidInput

MAX_FEN = 10**15  # 10 万亿元: far above any SME loan, far below BIGINT


def fen(value: Any, field: str = "金额", *, allow_zero: bool = False) -> int:
    """元 (number or text like "1,234,567.89") → 分, refusing what a person would not mean as an amount."""
    text = str(value).strip().replace(",", "").replace("，", "") if value is not None else ""
    try:
        d = Decimal(text)
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field}“{value}”不是有效的金额（单位元，最多两位小数）", code="AMOUNT_FORMAT") from None
    if not d.is_finite() or d.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput(f"{field}“{value}”不是有效的金额（单位元，最多两位小数）", code="AMOUNT_FORMAT")
    if abs(d) > MAX_FEN:  # before multiplying: "1e999999" × 100 overflows the decimal context
        raise InvalidInput(f"{field}“{value}”超出允许范围", code="AMOUNT_FORMAT")
    f = int(d * 100)
    if f < 0 or (f == 0 and not allow_zero):
        raise InvalidInput(f"{field}为 {value}，金额须大于 0", code="NEGATIVE_AMOUNT")
    if f > MAX_FEN:
        raise InvalidInput(f"{field}“{value}”超出允许范围", code="AMOUNT_FORMAT")
    return f


def bp(value: Any, field: str = "年利率") -> int:
    """An annual rate in percent ("3.85") → basis points (385); 0 < rate ≤ 24 %."""
    try:
        d = Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field}“{value}”不是有效的百分数", code="RATE_FORMAT") from None
    if not d.is_finite() or not Decimal(0) < d <= Decimal(24) or d.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput(f"{field}为 {value}%，须大于 0 且不超过 24%（最多两位小数）", code="RATE_OUT_OF_RANGE")
    return int(d * 100)


def yuan(f: int | None) -> str:
    """分 → "1,234,567.89" (元), as files and the API give amounts back."""
    return "" if f is None else f"{Decimal(f) / 100:,.2f}"


def wan(f: int | None, places: int = 2) -> str:
    """分 → "123.46 万元", as pages show amounts."""
    return "" if f is None else f"{Decimal(f) / 1_000_000:,.{places}f} 万元"


def percent(b: int | None) -> str:
    """Basis points → "3.85%"."""
    return "" if b is None else f"{Decimal(b) / 100:.2f}%"
