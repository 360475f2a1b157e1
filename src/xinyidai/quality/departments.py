"""The providing departments (数据提供部门) and their staff's accounts.

A department is known to the data by its `name`: every delivery and record it provides carries that name as
`provider`, so "its data" is the deliveries whose provider equals its name. Its `region` places it under the
province (230000) or one of its cities, which is where its overdue tickets are counted."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.models import User
from xinyidai.accounts.users import create_user
from xinyidai.entities.regions import HEILONGJIANG, HEILONGJIANG_PREFECTURES
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, InvalidInput, NotFound
from xinyidai.quality.models import Department

_CODE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def check_region(region: str) -> str:
    """The province itself or one of its cities (a prefecture-level code): a department serves one of them."""
    region = (region or "").strip()
    if region != HEILONGJIANG and region not in HEILONGJIANG_PREFECTURES:
        raise InvalidInput(f"所属区划应为 {HEILONGJIANG}（省级部门）或本省一个市（地）的 6 位代码，收到“{region[:20]}”",
                           code="BAD_REGION")
    return region


def create(s: Session, *, code: str, name: str, region: str, contact: str | None, actor: str) -> Department:
    code, name = (code or "").strip().lower(), (name or "").strip()
    if not _CODE.match(code):
        raise InvalidInput("部门代码须为 2–40 位小写字母、数字或连字符，以字母开头", code="BAD_DEPARTMENT_CODE")
    if not (2 <= len(name) <= 100):
        raise InvalidInput("部门名称须为 2–100 个字符，且与其报送数据中的提供单位名称一致", code="BAD_DEPARTMENT_NAME")
    region = check_region(region)
    contact = (contact or "").strip()[:200] or None
    if s.get(Department, code) is not None:
        raise Conflict(f"部门代码 {code} 已存在", code="DEPARTMENT_EXISTS")
    if s.execute(select(Department.code).where(Department.name == name)).first():
        raise Conflict(f"已有名为“{name}”的部门", code="DEPARTMENT_NAME_TAKEN")
    d = Department(code=code, name=name, region=region, contact=contact, created_at=clock.now())
    s.add(d)
    s.flush()
    audit.record(s, actor, "quality.department.created", f"department:{code}", name=name, region=region)
    return d


def get(s: Session, code: str) -> Department:
    d = s.get(Department, (code or "").strip().lower())
    if d is None:
        raise NotFound(f"没有代码为 {code[:40]} 的数据提供部门", code="DEPARTMENT_NOT_FOUND")
    return d


def listing(s: Session) -> list[Department]:
    return list(s.execute(select(Department).order_by(Department.region, Department.code)).scalars())


def by_name(s: Session, name: str | None) -> Department | None:
    """The department whose deliveries carry `name` as their provider, if the node knows one."""
    if not name:
        return None
    return s.execute(select(Department).where(Department.name == name)).scalar_one_or_none()


def add_account(s: Session, dept_code: str, username: str, display_name: str, password: str, actor: str) -> User:
    """An account of the department's staff: role `department`, org_code = the department's code."""
    d = get(s, dept_code)
    u = create_user(s, username=username, display_name=(display_name or "").strip() or d.name, role="department",
                    password=password, org_code=d.code, actor=actor)
    audit.record(s, actor, "quality.department.account", f"department:{d.code}", username=u.username)
    return u


def accounts(s: Session, dept_code: str) -> list[User]:
    return list(s.execute(select(User).where(User.role == "department", User.org_code == dept_code)
                          .order_by(User.username)).scalars())
