"""A value as a cell of a CSV file that people open in a spreadsheet (exports of records, white lists).

Text beginning with = + - @, or with a tab or carriage return (which spreadsheets skip before reading a
formula), would be run as a formula (CSV injection, OWASP): it is written after an apostrophe, which the
spreadsheet shows as text. A plain number, negative too, is no formula and stays a number. Yes/no values are
written as people read them, 是/否, not as Python's True/False.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if v is True or v is False:
        return "是" if v else "否"
    text = str(v)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text
