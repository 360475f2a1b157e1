"""The working-day calendar as data: weekends, the 2026 holidays (春节, 国庆) and the weekend days worked
instead (调休上班), a year the file lacks, and a file that contradicts itself."""

from __future__ import annotations

from datetime import date

import pytest

from xinyidai.rights import workdays


def test_weekends_and_plain_weeks() -> None:
    assert workdays.is_workday(date(2026, 11, 13))  # Friday
    assert not workdays.is_workday(date(2026, 11, 14))  # Saturday
    assert workdays.add_workdays(date(2026, 11, 13), 1) == date(2026, 11, 16)  # over the weekend to Monday
    assert workdays.add_workdays(date(2026, 11, 15), 2) == date(2026, 11, 17)
    assert workdays.add_workdays(date(2026, 11, 16), 0) == date(2026, 11, 16)
    assert workdays.workdays_between(date(2026, 11, 13), date(2026, 11, 16)) == 1
    assert workdays.workdays_between(date(2026, 11, 16), date(2026, 11, 13)) == 0


def test_spring_festival_and_its_working_saturdays() -> None:
    assert workdays.is_workday(date(2026, 2, 14))  # 调休：周六上班
    assert not workdays.is_workday(date(2026, 2, 16))  # Monday in the holiday
    assert not workdays.is_workday(date(2026, 2, 23))  # the holiday's last day, a Monday
    assert workdays.is_workday(date(2026, 2, 28))  # 调休：周六上班
    # Friday 13 Feb + 2 working days: Saturday 14 (worked), then nothing until Tuesday 24.
    assert workdays.add_workdays(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert workdays.workdays_between(date(2026, 2, 13), date(2026, 2, 24)) == 2


def test_national_day_and_ten_working_days() -> None:
    assert workdays.is_workday(date(2026, 9, 20))  # Sunday worked
    assert not any(workdays.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert workdays.is_workday(date(2026, 10, 10))  # Saturday worked
    # Wednesday 30 Sep + 10 working days: 8, 9, 10 (Sat), 12–16, 19, 20 October.
    assert workdays.add_workdays(date(2026, 9, 30), 10) == date(2026, 10, 20)
    assert workdays.workdays_between(date(2026, 9, 30), date(2026, 10, 20)) == 10


def test_other_2026_holidays() -> None:
    for d in (date(2026, 1, 1), date(2026, 1, 2), date(2026, 4, 6), date(2026, 5, 4), date(2026, 5, 5),
              date(2026, 6, 19), date(2026, 9, 25)):
        assert not workdays.is_workday(d), d
    for d in (date(2026, 1, 4), date(2026, 5, 9)):
        assert workdays.is_workday(d), d


def test_a_year_the_calendar_lacks_falls_back_to_monday_to_friday() -> None:
    assert workdays.known(2026) and "2026" in (workdays.source(2026) or "")
    assert not workdays.known(2031)
    assert workdays.is_workday(date(2031, 1, 1))  # a Wednesday: no holidays known for 2031
    assert workdays.add_workdays(date(2031, 1, 3), 1) == date(2031, 1, 6)


def test_a_malformed_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="同时"):
        workdays.parse("2027:\n  holidays: [2027-01-01]\n  working_weekends: [2027-01-01]\n")
    with pytest.raises(ValueError, match="不属于该年"):
        workdays.parse("2027:\n  holidays: [2026-01-01]\n")
    cal = workdays.parse("2027:\n  source: 测试\n  holidays: [2027-01-01]\n  working_weekends: [2027-01-02]\n")
    assert not cal.is_workday(date(2027, 1, 1)) and cal.is_workday(date(2027, 1, 2))
    with pytest.raises(ValueError, match="未知的键"):
        workdays.parse("2027:\n  off: [2027-01-01]\n")
