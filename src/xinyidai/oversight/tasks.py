"""督办 (notice point 十八): the tasks the province supervises, each with a responsible unit and a deadline, and
their handling — the unit's rectification (整改) is recorded, a regulator other than the one who recorded it
closes the task or sends it back, and every step is kept (`TaskStep`) and audited in the same transaction.

Three kinds (`TASK_KINDS`):

* ``notice`` — the notice's own task points (一)…(十四) of 黑营商发〔2022〕17号, each with the unit it names and
  its 完成时限 (`register_notice_tasks`, idempotent: numbers RW-TZ-01 … RW-TZ-14). Points whose 完成时限 is
  持续开展 are followed up year by year: their deadline is the last day of the current year.
* ``province`` — tasks the province adds (`add_task`). The notice (point 五) refers to the "20项主要工作任务"
  of another document (黑诚信发〔2022〕2号, 《主要工作任务分工表》) that is not in our hands: they are not
  invented here, and are entered as ``province`` tasks, one by one, by the province's staff.
* ``followup`` — opened from a stored run of the indicator system (`open_followups`): a city ranked in the
  bottom places, or a city whose score on a target-normalised indicator is under `UNDER_TARGET`; the owner is
  the city's 营商环境建设监督局 and the deadline the system's `deadline_days` from today.

States (`TASK_STATES`): open → answered (the unit's rectification) → done (closed by a regulator), or
answered → returned (sent back) → answered again."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.oversight import runs
from xinyidai.oversight.models import TASK_KINDS, TASK_STATES, Run, Task, TaskStep

UNDER_TARGET = 60.0  # a score on a target-normalised indicator below this opens a follow-up
NOTICE = "黑营商发〔2022〕17号"
WRITERS = ("regulator", "operator")  # who registers tasks and records a unit's answer
REVIEWERS = ("regulator",)  # who closes or sends back
STEP_LABELS = {"opened": "立项", "answered": "报送整改情况", "returned": "退回重办", "closed": "办结"}
SORTS = {"deadline": Task.deadline, "number": Task.number, "state": Task.state, "kind": Task.kind,
         "city": Task.city_code, "owner": Task.owner, "created_at": Task.created_at}
CONTINUING = "持续开展"


@dataclass(frozen=True)
class NoticePoint:
    clause: str
    title: str
    owner: str
    time_limit: str  # the notice's 完成时限, as written


# The notice's task points (一)–(十四): heading, the unit the point names, its 完成时限.
NOTICE_POINTS: tuple[NoticePoint, ...] = (
    NoticePoint("一", "建立全省性融资信用服务平台", "省营商环境建设监督局、黑龙江银保监局", "2022年7月底前"),
    NoticePoint("二", "建立国家平台省级节点", "省公共信用中心", "2022年5月底前"),
    NoticePoint("三", "加快构建全省融资信用服务平台网络", "省公共信用中心（省级节点）", "2022年12月底前"),
    NoticePoint("四", "加快收集各银行机构的实际需求", "各级银保监局", CONTINUING),
    NoticePoint("五", "进一步扩大信息共享范围", "各市（地）公共信用信息平台、省公共信用中心（省级节点）", "2023年12月底前"),
    NoticePoint("六", "着力提升省级节点信用信息服务质量", "省公共信用中心", CONTINUING),
    NoticePoint("七", "依法依规向金融机构充分开放信息", "各融资信用服务平台", CONTINUING),
    NoticePoint("八", "鼓励融资信用服务平台与金融机构深化合作", "各融资信用服务平台、省公共信用中心（省级节点）",
                "2022年12月底前"),
    NoticePoint("九", "强化信息安全和主体权益保护主体责任", "融资信用服务平台主管部门和建设运营单位", CONTINUING),
    NoticePoint("十", "加强融资信用服务平台接入管理", "省公共信用中心", CONTINUING),
    NoticePoint("十一", "鼓励市场主体入驻融资信用服务平台",
                "各级营商环境建设监督部门（会同市场监管、商务、工信等部门）", CONTINUING),
    NoticePoint("十二", "引导各银行业金融机构积极对接各融资信用服务平台", "各级银保监部门", "2022年底前"),
    NoticePoint("十三", "强化信用服务措施", "各级公共信用信息平台", CONTINUING),
    NoticePoint("十四", "健全完善“信易贷”政策保障机制", "各市（地）政府", CONTINUING),
)
_LIMIT = re.compile(r"^\s*(\d{4})\s*年\s*(?:(\d{1,2})\s*月)?\s*底前\s*$")


# ── errors ──────────────────────────────────────────────────────────────────────────────────────────────

class TaskNotFound(NotFound):
    code = "TASK_NOT_FOUND"
    message = "未找到该督办事项"


class TaskStateConflict(Conflict):
    code = "TASK_STATE"
    message = "督办事项当前状态不允许此操作"


class SameReviewer(Forbidden):
    code = "TASK_SAME_PERSON"
    message = "报送整改情况的人员不能办结该事项，须由另一名监管人员办结"


class TaskInvalid(InvalidInput):
    code = "TASK_INVALID"
    message = "督办事项填写不符合要求"


# ── helpers ─────────────────────────────────────────────────────────────────────────────────────────────

def deadline_of(time_limit: str, today: date | None = None) -> date:
    """A 完成时限 as a date: 2022年7月底前 → 2022-07-31, 2022年底前 → 2022-12-31, 持续开展 → the last day of
    the current year."""
    today = today or clock.today()
    if time_limit.strip() == CONTINUING:
        return date(today.year, 12, 31)
    m = _LIMIT.match(time_limit)
    if m is None:
        raise TaskInvalid(f"无法识别的完成时限：{time_limit}", code="TASK_TIME_LIMIT")
    year, month = int(m.group(1)), int(m.group(2) or 12)
    if not 1 <= month <= 12:
        raise TaskInvalid(f"无法识别的完成时限：{time_limit}", code="TASK_TIME_LIMIT")
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)


def _role(actor: Principal, roles: tuple[str, ...], what: str) -> str:
    if actor.role not in roles:
        who = "、".join({"regulator": "监管人员", "operator": "平台运营人员"}.get(r, r) for r in roles)
        raise Forbidden(f"只有{who}可以{what}", code="ROLE_FORBIDDEN")
    return actor.username


def _text(value: str | None, limit: int, what: str, code: str, *, required: bool = True) -> str:
    v = (value or "").strip()
    if required and len(v) < 2:
        raise TaskInvalid(f"请填写{what}", code=code)
    if len(v) > limit:
        raise TaskInvalid(f"{what}不能超过 {limit} 字", code=code)
    return v


def _step(s: Session, task: Task, action: str, who: str, note: str = "") -> TaskStep:
    step = TaskStep(task_id=task.id, action=action, note=note, by=who, at=clock.now())
    s.add(step)
    return step


def _fmt(v: float | None) -> str:
    if v is None:
        return "无数据"
    return str(int(v)) if float(v).is_integer() else f"{v:,.2f}"


def owner_of(city_code: str) -> str:
    return f"{runs.city_name(city_code)}营商环境建设监督局"


# ── registering ─────────────────────────────────────────────────────────────────────────────────────────

def register_notice_tasks(s: Session, actor: Principal) -> list[Task]:
    """The notice's points (一)…(十四) as `notice` tasks. Idempotent: the points already registered are left as
    they are; returns the tasks registered by this call (none the second time)."""
    who = _role(actor, WRITERS, "登记督办事项")
    numbers = {f"RW-TZ-{i:02d}": p for i, p in enumerate(NOTICE_POINTS, 1)}
    held = set(s.execute(select(Task.number).where(Task.number.in_(numbers))).scalars())
    now, today = clock.now(), clock.today()
    made: list[Task] = []
    for number, p in numbers.items():
        if number in held:
            continue
        limit = (f"完成时限：{CONTINUING}（按年度督办，本年度截至 {today.year} 年 12 月 31 日）"
                 if p.time_limit == CONTINUING else f"完成时限：{p.time_limit}")
        task = Task(number=number, kind="notice", title=p.title, clause=p.clause,
                    detail=f"{NOTICE}第（{p.clause}）项。{limit}。", owner=p.owner, city_code=None,
                    deadline=deadline_of(p.time_limit, today), state="open", created_by=who, created_at=now)
        s.add(task)
        made.append(task)
    if made:
        s.flush()
        for t in made:
            _step(s, t, "opened", who, f"登记{NOTICE}第（{t.clause}）项")
        audit.record(s, who, "oversight.tasks.notice", "oversight-tasks:notice", numbers=[t.number for t in made])
    return made


def _province_number(s: Session) -> str:
    """RW-SR-NNN; the unique index settles a race (the loser's transaction fails)."""
    n = s.execute(select(func.count()).select_from(Task).where(Task.number.like("RW-SR-%"))).scalar_one()
    return f"RW-SR-{n + 1:03d}"


def add_task(s: Session, actor: Principal, *, title: str, owner: str, deadline: date, detail: str = "",
             clause: str | None = None, city_code: str | None = None) -> Task:
    """A task the province adds (kind `province`). Everything is checked before anything is written."""
    who = _role(actor, WRITERS, "登记督办事项")
    title = _text(title, 200, "任务名称", "TASK_TITLE_REQUIRED")
    owner = _text(owner, 200, "责任单位", "TASK_OWNER_REQUIRED")
    detail = _text(detail, 4_000, "任务内容", "TASK_DETAIL_TOO_LONG", required=False)
    clause = _text(clause, 20, "对应条款", "TASK_CLAUSE_TOO_LONG", required=False) or None
    if not isinstance(deadline, date):
        raise TaskInvalid("请填写完成时限（日期）", code="TASK_DEADLINE_REQUIRED")
    if deadline < clock.today():
        raise TaskInvalid(f"完成时限 {deadline.isoformat()} 早于今天，不能登记已过期限的任务",
                          code="TASK_DEADLINE_PAST")
    city = (city_code or "").strip() or None
    if city is not None and city not in runs.cities():
        raise TaskInvalid(f"没有代码为 {city} 的市（地）", code="TASK_CITY_UNKNOWN", detail={"city": city})
    task = Task(number=_province_number(s), kind="province", title=title, clause=clause, detail=detail,
                owner=owner, city_code=city, deadline=deadline, state="open", created_by=who,
                created_at=clock.now())
    s.add(task)
    s.flush()
    _step(s, task, "opened", who, "登记本省任务")
    audit.record(s, who, "oversight.task.opened", f"oversight-task:{task.number}", kind="province", title=title,
                 owner=owner, deadline=deadline.isoformat(), city=city)
    return task


# ── follow-ups from a run ───────────────────────────────────────────────────────────────────────────────

def bottom_cities(ranking: runs.Ranking) -> list[runs.CityResult]:
    """The cities in the bottom `bottom_places` places; cities tied with the last place counted are included."""
    n = ranking.system.bottom_places
    ordered = sorted(ranking.cities, key=lambda c: (c.rank, c.city_code))
    if n <= 0 or not ordered:
        return []
    boundary = ordered[max(0, len(ordered) - n)].rank
    return [c for c in ordered if c.rank >= boundary]


def under_target(ranking: runs.Ranking, city: runs.CityResult) -> list[tuple[str, float]]:
    """(indicator code, score) of a city's target-normalised indicators scored under `UNDER_TARGET`. A missing
    value is not counted here: the ranking shows it as missing."""
    out = []
    for ind in ranking.system.indicators:
        if ind.method != "target" or ind.code not in city.values:
            continue
        _, sc, _ = city.values[ind.code]
        if sc is not None and sc < UNDER_TARGET:
            out.append((ind.code, sc))
    return out


def _indicator_line(ranking: runs.Ranking, city: runs.CityResult, code: str) -> str:
    ind = ranking.system.indicator(code)
    v, sc, _ = city.values[code]
    return (f"{ind.code} {ind.name}：{_fmt(v.value)} {ind.unit}，目标 {_fmt(ind.target)} {ind.unit}，"
            f"得分 {sc:.1f}")


def open_followups(s: Session, run: Run, actor: Principal) -> list[Task]:
    """The follow-ups a stored run calls for: one per city in the bottom places (indicator ""), and one per
    (city, indicator) for the other cities scored under target on a target-normalised indicator. Idempotent
    per run: what the run already opened is left as it is; returns the tasks opened by this call."""
    who = _role(actor, WRITERS, "发起督办")
    ranking = runs.ranking(s, run)
    held = {(c, i) for c, i in s.execute(select(Task.city_code, Task.indicator).where(Task.run_id == run.id))}
    today, now = clock.today(), clock.now()
    deadline = today + timedelta(days=ranking.system.deadline_days)
    period = ranking.period_text
    total_cities = len(ranking.cities)
    bottom = bottom_cities(ranking)
    bottom_codes = {c.city_code for c in bottom}
    made: list[Task] = []

    def add(city: runs.CityResult, indicator: str, title: str, detail: str) -> None:
        if (city.city_code, indicator) in held:
            return
        t = Task(number=f"DB-{run.id:05d}-{city.city_code}-{indicator or 'PM'}", kind="followup", title=title,
                 clause="十八", detail=detail, owner=owner_of(city.city_code), city_code=city.city_code,
                 deadline=deadline, state="open", run_id=run.id, indicator=indicator, created_by=who,
                 created_at=now)
        s.add(t)
        made.append(t)

    for c in bottom:
        lines = [_indicator_line(ranking, c, code) for code, _ in under_target(ranking, c)]
        detail = (f"考核期间 {period}（{run.number}）：总分 {c.total:.2f}，排名第 {c.rank} 位（共 {total_cities} 个"
                  f"市（地）），列后 {ranking.system.bottom_places} 位。"
                  + ("未达目标的指标：" + "；".join(lines) + "。" if lines else "无低于目标 60 分的指标。")
                  + f"请于 {deadline.isoformat()} 前报送整改情况。")
        add(c, "", f"{c.name}“信易贷”工作排名靠后督办（{period}）", detail)
    for c in ranking.cities:
        if c.city_code in bottom_codes:
            continue
        for code, _ in under_target(ranking, c):
            ind = ranking.system.indicator(code)
            detail = (f"考核期间 {period}（{run.number}）：{_indicator_line(ranking, c, code)}，低于 "
                      f"{UNDER_TARGET:.0f} 分。请于 {deadline.isoformat()} 前报送整改情况。")
            add(c, code, f"{c.name}{ind.name}未达目标督办（{period}）", detail)
    if made:
        s.flush()
        for t in made:
            _step(s, t, "opened", who, f"由考核计算 {run.number} 发起")
        audit.record(s, who, "oversight.tasks.followups", f"oversight-run:{run.number}",
                     numbers=[t.number for t in made], deadline=deadline.isoformat())
    return made


# ── handling ────────────────────────────────────────────────────────────────────────────────────────────

def get(s: Session, number: str) -> Task:
    t = s.execute(select(Task).where(Task.number == number)).scalar_one_or_none()
    if t is None:
        raise TaskNotFound(f"未找到督办事项 {number}")
    return t


def _refuse_done(t: Task) -> None:
    if t.state == "done":
        raise TaskStateConflict(f"督办事项 {t.number} 已办结，不能再办理", code="TASK_DONE")


def answer(s: Session, actor: Principal, number: str, text: str) -> Task:
    """The unit's rectification, recorded by an operator or a regulator: open or returned → answered."""
    who = _role(actor, WRITERS, "报送整改情况")
    t = get(s, number)
    _refuse_done(t)
    if t.state == "answered":
        raise TaskStateConflict(f"督办事项 {t.number} 已报送整改情况，待监管人员审核；退回后方可再次报送",
                                code="TASK_ALREADY_ANSWERED")
    text = _text(text, 10_000, "整改情况", "TASK_ANSWER_REQUIRED")
    t.state, t.answer, t.answered_by, t.answered_at = "answered", text, who, clock.now()
    _step(s, t, "answered", who, text)
    audit.record(s, who, "oversight.task.answered", f"oversight-task:{t.number}", answer=text)
    return t


def _reviewable(s: Session, actor: Principal, number: str, what: str) -> tuple[str, Task]:
    who = _role(actor, REVIEWERS, what)
    t = get(s, number)
    _refuse_done(t)
    if t.state != "answered":
        raise TaskStateConflict(f"督办事项 {t.number} 尚未报送整改情况（{TASK_STATES[t.state]}），不能{what}",
                                code="TASK_NOT_ANSWERED")
    return who, t


def close(s: Session, actor: Principal, number: str, note: str) -> Task:
    """A regulator closes an answered task; not the one who recorded the answer (two people)."""
    who, t = _reviewable(s, actor, number, "办结")
    if who == t.answered_by:
        raise SameReviewer()
    note = _text(note, 4_000, "办结意见", "TASK_NOTE_REQUIRED")
    t.state, t.closed_by, t.closed_at = "done", who, clock.now()
    _step(s, t, "closed", who, note)
    audit.record(s, who, "oversight.task.closed", f"oversight-task:{t.number}", note=note)
    return t


def send_back(s: Session, actor: Principal, number: str, note: str) -> Task:
    """A regulator sends an answered task back: the unit answers again."""
    who, t = _reviewable(s, actor, number, "退回")
    note = _text(note, 4_000, "退回理由", "TASK_NOTE_REQUIRED")
    t.state = "returned"
    _step(s, t, "returned", who, note)
    audit.record(s, who, "oversight.task.returned", f"oversight-task:{t.number}", note=note)
    return t


# ── reading ─────────────────────────────────────────────────────────────────────────────────────────────

def is_overdue(t: Task, today: date | None = None) -> bool:
    return t.state != "done" and t.deadline < (today or clock.today())


def overdue(s: Session, today: date | None = None) -> list[Task]:
    """The tasks not done whose deadline has passed, the oldest deadline first."""
    today = today or clock.today()
    return list(s.execute(select(Task).where(Task.state != "done", Task.deadline < today)
                          .order_by(Task.deadline, Task.number)).scalars())


def _filtered(state: str | None, kind: str | None, city: str | None, run_id: int | None,
              overdue_only: bool) -> Select:
    stmt = select(Task)
    if state in TASK_STATES:
        stmt = stmt.where(Task.state == state)
    if kind in TASK_KINDS:
        stmt = stmt.where(Task.kind == kind)
    if city:
        stmt = stmt.where(Task.city_code == city)
    if run_id is not None:
        stmt = stmt.where(Task.run_id == run_id)
    if overdue_only:
        stmt = stmt.where(Task.state != "done", Task.deadline < clock.today())
    return stmt


def listing(s: Session, *, state: str | None = None, kind: str | None = None, city: str | None = None,
            run: str | None = None, overdue_only: bool = False, page: PageRequest | None = None) -> Page:
    """A page of tasks, filtered and sorted (`SORTS`; by deadline unless told). `run` is a run's number."""
    run_id = runs.by_number(s, run).id if run else None
    req = page or PageRequest(sort="deadline")
    return paginate(s, _filtered(state, kind, city, run_id, overdue_only), req, SORTS, "deadline")


def any_notice_tasks(s: Session) -> bool:
    return s.execute(select(Task.id).where(Task.kind == "notice").limit(1)).first() is not None


@dataclass(frozen=True)
class TaskDetail:
    task: Task
    steps: list[TaskStep]
    run_number: str | None
    overdue: bool


def detail(s: Session, number: str) -> TaskDetail:
    t = get(s, number)
    steps = list(s.execute(select(TaskStep).where(TaskStep.task_id == t.id)
                           .order_by(TaskStep.at, TaskStep.id)).scalars())
    run_number = s.execute(select(Run.number).where(Run.id == t.run_id)).scalar_one_or_none() if t.run_id else None
    return TaskDetail(t, steps, run_number, is_overdue(t))
