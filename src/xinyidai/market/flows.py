"""The market's multi-step processes as pure tables: which states exist, which actions move between them,
and which kind of actor may take each action.

Pure on purpose (no database, no clock, only `xinyidai.kit`): the services, the JSON API, the pages' buttons,
the bank feedback file and the property tests all ask the same table, so a move the API refuses can never be
offered by a page or slip in through a file. A service loads the row, calls `Flow.check`, writes the new
state and a timeline event in one transaction; it never compares states itself.

Four flows:
* `APPLICATION` — an enterprise's application to a bank (受理 → 预授信 → 授信 → 放款), after OCEN's loan
  application journey and Fineract's loan states, but with each action bound to the kind of actor who may
  take it, and the offer step explicit: nothing is granted on terms the enterprise has not accepted.
* `DEFAULT_CASE` — the default response (违约响应) opened by an overdue repayment report; `system_moves`
  says which moves a new days-past-due figure triggers, so escalation at 30 dpd and the non-performing
  classification at 90 are rules of the table, not of a scheduler.
* `PRODUCT` — the life of one product version (draft → review → published → suspended → withdrawn); an
  edit is a new version, and publishing it supersedes the old one.
* `DEMAND` — a published financing need (融资需求) that banks quote on until the enterprise picks one.

Refusals are typed (`FlowError` and its subclasses) with a code for programs and a Chinese message that
says what state the thing is in and what may happen next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput

START = ""  # the state of something not yet created: the source of a flow's first move


class ActorKind(StrEnum):
    """Who acts. A service maps the principal to one of these (a bank user → BANK, a scheduled job →
    SYSTEM); the flow never sees users, only kinds, so the same table serves pages, API and files."""

    ENTERPRISE = "enterprise"
    BANK = "bank"
    OPERATOR = "operator"
    SYSTEM = "system"
    POLICY = "policy"  # a city's finance or financial office, running policy programmes (see `policy`)


ACTOR_LABELS: dict[ActorKind, str] = {
    ActorKind.ENTERPRISE: "企业",
    ActorKind.BANK: "金融机构",
    ActorKind.OPERATOR: "平台运营方",
    ActorKind.SYSTEM: "系统",
    ActorKind.POLICY: "政策管理部门",
}


# ── refusals ────────────────────────────────────────────────────────────────────────────────────────────

class FlowError(DomainError):
    """Any refusal of a move; `detail` names the flow, the state, the action and what is allowed next."""

    code = "FLOW_REFUSED"
    message = "该操作不符合办理流程"


class UnknownAction(FlowError, InvalidInput):
    code = "UNKNOWN_ACTION"
    message = "没有这一操作"


class ActorNotAllowed(FlowError, Forbidden):
    """The kind of actor may never take this action, whatever the state (checked first)."""

    code = "ACTOR_NOT_ALLOWED"
    message = "无权办理该操作"


class TransitionRefused(FlowError, Conflict):
    """The action exists and the actor may take it, but not from the current state."""

    code = "OUT_OF_ORDER"
    message = "操作顺序不符合办理流程"


class OutOfOrder(TransitionRefused):
    code = "OUT_OF_ORDER"


class AlreadyFinal(TransitionRefused):
    """The thing has reached an end state; nothing may move it again."""

    code = "ALREADY_FINAL"
    message = "流程已结束"


class AlreadyDone(TransitionRefused):
    """The action's result is already the current state (a repeat without the same request id)."""

    code = "ALREADY_DONE"
    message = "无需重复办理"


class ThresholdNotReached(TransitionRefused):
    """A move that needs a number of days past due before it may happen (escalation, non-performing)."""

    code = "THRESHOLD_NOT_REACHED"
    message = "尚未达到办理条件"


# ── the table ───────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class State:
    code: str
    label: str
    final: bool = False


@dataclass(frozen=True)
class Move:
    """One action: from any of `sources` to `target` (None: the state stays, e.g. a further reminder),
    by any of `actors`. `min_dpd`: the days past due the move needs (default cases only)."""

    action: str
    label: str
    sources: frozenset[str]
    target: str | None
    actors: frozenset[ActorKind]
    min_dpd: int | None = None

    def actors_text(self) -> str:
        return "/".join(ACTOR_LABELS[a] for a in ActorKind if a in self.actors)


def _move(action: str, label: str, sources: Iterable[str], target: str | None, *actors: ActorKind,
          min_dpd: int | None = None) -> Move:
    return Move(action, label, frozenset(sources), target, frozenset(actors), min_dpd)


@dataclass(frozen=True)
class Flow:
    """States and moves, checked for coherence when built (a bad table fails at import, not in use)."""

    name: str  # program name: "application"
    noun: str  # what a message calls the thing: "申请"
    states: tuple[State, ...]
    moves: tuple[Move, ...]
    _states: dict[str, State] = field(init=False, repr=False, compare=False)
    _moves: dict[str, Move] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        states = {s.code: s for s in self.states}
        moves = {m.action: m for m in self.moves}
        problems = []
        if len(states) != len(self.states) or START in states:
            problems.append("state codes must be unique and not empty")
        if len(moves) != len(self.moves):
            problems.append("action names must be unique")
        for m in self.moves:
            if not m.actors:
                problems.append(f"{m.action}: nobody may take it")
            for src in m.sources:
                if src != START and src not in states:
                    problems.append(f"{m.action}: unknown source {src}")
                elif src != START and states[src].final:
                    problems.append(f"{m.action}: leaves the final state {src}")
            if m.target is not None and m.target not in states:
                problems.append(f"{m.action}: unknown target {m.target}")
            if m.target is None and START in m.sources:
                problems.append(f"{m.action}: a first move must create a state")
        for s in self.states:
            if not s.final and not any(s.code in m.sources for m in self.moves):
                problems.append(f"{s.code}: not final, yet no move leaves it")
        if not any(START in m.sources for m in self.moves):
            problems.append("no move creates the first state")
        if problems:
            raise ValueError(f"flow {self.name}: " + "; ".join(problems))
        object.__setattr__(self, "_states", states)
        object.__setattr__(self, "_moves", moves)

    # ── reading the table ──

    def state(self, code: str) -> State:
        if code == START:
            return State(START, "尚未创建")
        try:
            return self._states[code]
        except KeyError:
            raise ValueError(f"{code!r} is not a state of flow {self.name}") from None

    def label(self, code: str) -> str:
        return self.state(code).label

    def is_final(self, code: str) -> bool:
        return self.state(code).final

    def move(self, action: str) -> Move:
        try:
            return self._moves[action]
        except KeyError:
            names = "、".join(f"{m.label}（{m.action}）" for m in self.moves)
            raise UnknownAction(f"没有“{action}”这一操作；{self.noun}的操作有：{names}",
                                detail={"flow": self.name, "action": action}) from None

    def moves_from(self, state: str, actor: ActorKind | None = None) -> list[Move]:
        """The moves that may leave `state` (for `actor` only, when given), in table order: what a page
        offers as buttons and what a refusal lists as allowed next."""
        self.state(state)
        return [m for m in self.moves if state in m.sources and (actor is None or actor in m.actors)]

    def next_text(self, state: str) -> str:
        """'受理（金融机构）、撤回申请（企业）' — what may happen next, in words."""
        nxt = self.moves_from(state)
        return "、".join(f"{m.label}（{m.actors_text()}）" for m in nxt) if nxt else "无（流程已结束）"

    # ── checking a move ──

    def check(self, state: str, action: str, actor: ActorKind, *, dpd: int | None = None,
              last_action: str | None = None) -> str:
        """The state after `actor` takes `action` in `state`, or the typed refusal. Order of checks: the
        action exists, the kind of actor may ever take it, the state is not final, the action may leave
        this state, then its days-past-due threshold. `last_action` (the move that led to `state`) tells a
        repeat (ALREADY_DONE) from a move out of order: several actions can lead to the same state."""
        move = self.move(action)
        current = self.state(state)
        actor = ActorKind(actor)
        detail = self._detail(state, move)
        if actor not in move.actors:
            raise ActorNotAllowed(f"“{move.label}”只能由{move.actors_text()}办理，{ACTOR_LABELS[actor]}不能办理",
                                  detail=detail)
        if current.final:
            raise AlreadyFinal(f"该{self.noun}已是“{current.label}”，流程已结束，不能再“{move.label}”",
                               detail=detail)
        if state not in move.sources:
            if move.target == state and last_action == action:
                raise AlreadyDone(f"该{self.noun}已是“{current.label}”，无需重复“{move.label}”", detail=detail)
            raise OutOfOrder(f"该{self.noun}当前为“{current.label}”，不能“{move.label}”；"
                             f"当前可以：{self.next_text(state)}", detail=detail)
        if move.min_dpd is not None and (dpd is None or dpd < move.min_dpd):
            shown = "未知" if dpd is None else f"{dpd} 天"
            raise ThresholdNotReached(f"“{move.label}”须逾期满 {move.min_dpd} 天，当前逾期{shown}",
                                      detail={**detail, "min_dpd": move.min_dpd, "dpd": dpd})
        return state if move.target is None else move.target

    def _detail(self, state: str, move: Move) -> dict[str, Any]:
        return {"flow": self.name, "state": state, "state_label": self.label(state), "action": move.action,
                "allowed": [{"action": m.action, "label": m.label, "actors": sorted(m.actors)}
                            for m in self.moves_from(state)]}


_ENT, _BANK, _OPR, _SYS = ActorKind.ENTERPRISE, ActorKind.BANK, ActorKind.OPERATOR, ActorKind.SYSTEM

# ── applications ────────────────────────────────────────────────────────────────────────────────────────

SUBMITTED, ACCEPTED, AUTH_REQUESTED = "SUBMITTED", "ACCEPTED", "AUTH_REQUESTED"
OFFERED, OFFER_ACCEPTED, GRANTED, DISBURSED = "OFFERED", "OFFER_ACCEPTED", "GRANTED", "DISBURSED"
CLOSED, DECLINED, REJECTED, WITHDRAWN, EXPIRED, CANCELLED = (
    "CLOSED", "DECLINED", "REJECTED", "WITHDRAWN", "EXPIRED", "CANCELLED")
# Before 授信 the enterprise may still walk away and the bank may still say no; after it, only the loan
# itself can end the application.
PRE_GRANT = (SUBMITTED, ACCEPTED, AUTH_REQUESTED, OFFERED, OFFER_ACCEPTED)

APPLICATION = Flow("application", "申请", (
    State(SUBMITTED, "已提交，待受理"),
    State(ACCEPTED, "已受理，审查中"),
    State(AUTH_REQUESTED, "待企业补充授权"),
    State(OFFERED, "已预授信，待企业确认"),
    State(OFFER_ACCEPTED, "企业已接受预授信"),
    State(GRANTED, "已授信"),
    State(DISBURSED, "已放款"),
    State(CLOSED, "已结清", final=True),
    State(DECLINED, "不予受理", final=True),
    State(REJECTED, "审批未通过", final=True),
    State(WITHDRAWN, "企业已撤回", final=True),
    State(EXPIRED, "超时失效", final=True),
    State(CANCELLED, "平台已撤销", final=True),
), (
    # Applying to a product: the enterprise confirms the drafted 贷前审查 grant in the same step, so the bank
    # never holds an application it may not examine.
    _move("submit", "提交申请", [START], SUBMITTED, _ENT),
    # Picking a bank's quote (报价) on a financing need: the bank already chose to quote, so it starts accepted.
    _move("pick_quote", "选定报价并申请", [START], ACCEPTED, _ENT),
    _move("accept", "受理", [SUBMITTED], ACCEPTED, _BANK),
    _move("decline", "不予受理", [SUBMITTED], DECLINED, _BANK),
    _move("request_auth", "要求补充授权", [ACCEPTED], AUTH_REQUESTED, _BANK),
    _move("confirm_auth", "确认补充授权", [AUTH_REQUESTED], ACCEPTED, _ENT),
    # A revised offer replaces the one the enterprise has not answered yet.
    _move("offer", "预授信", [ACCEPTED, OFFERED], OFFERED, _BANK),
    _move("accept_offer", "接受预授信", [OFFERED], OFFER_ACCEPTED, _ENT),
    _move("decline_offer", "不接受预授信", [OFFERED], ACCEPTED, _ENT),
    # Only on accepted terms: the offer step is not optional.
    _move("grant", "授信", [OFFER_ACCEPTED], GRANTED, _BANK),
    # Each call is one drawdown (放款); a credit line may be drawn more than once.
    _move("disburse", "放款", [GRANTED, DISBURSED], DISBURSED, _BANK),
    _move("close", "结清/终止", [GRANTED, DISBURSED], CLOSED, _BANK, _SYS),
    _move("reject", "审批不通过", [ACCEPTED, AUTH_REQUESTED, OFFERED, OFFER_ACCEPTED], REJECTED, _BANK),
    _move("withdraw", "撤回申请", PRE_GRANT, WITHDRAWN, _ENT),
    _move("expire", "超时失效", PRE_GRANT, EXPIRED, _SYS),
    _move("cancel", "平台撤销", PRE_GRANT, CANCELLED, _OPR),
))

# ── default cases (违约响应) ──────────────────────────────────────────────────────────────────────────────

REPORTED, REMINDED, ESCALATED = "REPORTED", "REMINDED", "ESCALATED"
CURED, RESTRUCTURED, NPL = "CURED", "RESTRUCTURED", "NPL"
CASE_OPEN = (REPORTED, REMINDED, ESCALATED)
ESCALATE_DPD, NPL_DPD = 30, 90

DEFAULT_CASE = Flow("default_case", "违约案件", (
    State(REPORTED, "已报告逾期"),
    State(REMINDED, "已催告"),
    State(ESCALATED, "已升级督办"),
    State(CURED, "已还款纠正"),
    State(RESTRUCTURED, "已重组"),
    State(NPL, "已转不良"),
    State(CLOSED, "已结案", final=True),
), (
    _move("open", "立案", [START], REPORTED, _SYS),
    _move("remind", "催告", [REPORTED, REMINDED], REMINDED, _SYS, _OPR),
    _move("respond", "企业说明情况", [REMINDED, ESCALATED], None, _ENT),
    _move("escalate", "升级督办（约谈）", [REPORTED, REMINDED], ESCALATED, _SYS, _OPR, min_dpd=ESCALATE_DPD),
    # The system escalates by itself when a report reaches 30 days, before anyone met: the city office
    # records its 约谈 on the escalated case afterwards (the state stays).
    _move("interview", "记录约谈", [ESCALATED], None, _OPR),
    _move("cure", "还款纠正", CASE_OPEN, CURED, _SYS, _BANK),
    _move("restructure", "重组", CASE_OPEN, RESTRUCTURED, _BANK),
    # Every non-performing case went through escalation: the city's office has always been involved.
    _move("classify_npl", "转为不良", [ESCALATED], NPL, _SYS, _BANK, min_dpd=NPL_DPD),
    _move("close", "结案", [CURED, RESTRUCTURED, NPL], CLOSED, _SYS, _OPR),
))


def system_moves(state: str, dpd: int) -> list[str]:
    """The moves the system takes, in order, when a repayment report puts a loan at `dpd` days past due
    and its case is in `state` (START: no open case). A first report already at 95 days opens, reminds,
    escalates and classifies in one go, so no case skips the city's office. A falling figure never
    de-escalates; only a clean report (0) cures. Outcome states wait for a person or a new case."""
    if dpd < 0:
        raise ValueError("days past due cannot be negative")
    if state == START:
        if dpd == 0:
            return []
        return ["open", "remind", *system_moves(REMINDED, dpd)]
    if state in CASE_OPEN and dpd == 0:
        return ["cure"]
    if state == REPORTED:
        return ["remind", *system_moves(REMINDED, dpd)]
    if state == REMINDED and dpd >= ESCALATE_DPD:
        return ["escalate", *system_moves(ESCALATED, dpd)]
    if state == ESCALATED and dpd >= NPL_DPD:
        return ["classify_npl"]
    return []


# ── product versions ────────────────────────────────────────────────────────────────────────────────────

DRAFT, REVIEW, PUBLISHED, SUSPENDED, SUPERSEDED = "DRAFT", "REVIEW", "PUBLISHED", "SUSPENDED", "SUPERSEDED"

PRODUCT = Flow("product", "产品版本", (
    State(DRAFT, "草稿"),
    State(REVIEW, "待审核"),
    State(PUBLISHED, "已发布"),
    State(SUSPENDED, "已暂停"),
    State(WITHDRAWN, "已下架", final=True),
    State(SUPERSEDED, "已被新版本取代", final=True),
), (
    _move("create", "新建版本", [START], DRAFT, _BANK),
    _move("submit", "提交审核", [DRAFT], REVIEW, _BANK),
    _move("return", "退回修改", [REVIEW], DRAFT, _OPR),
    _move("publish", "审核发布", [REVIEW], PUBLISHED, _OPR),
    # Who may resume depends on who suspended (a bank cannot lift the platform's suspension): the service
    # checks that; the table only says both kinds may take the action.
    _move("suspend", "暂停", [PUBLISHED], SUSPENDED, _BANK, _OPR),
    _move("resume", "恢复", [SUSPENDED], PUBLISHED, _BANK, _OPR),
    _move("withdraw", "下架", [DRAFT, REVIEW, PUBLISHED, SUSPENDED], WITHDRAWN, _BANK, _OPR),
    _move("supersede", "由新版本取代", [PUBLISHED, SUSPENDED], SUPERSEDED, _SYS),
))

# ── financing needs (融资需求) ───────────────────────────────────────────────────────────────────────────

OPEN, MATCHED = "OPEN", "MATCHED"

DEMAND = Flow("demand", "融资需求", (
    State(OPEN, "征集中"),
    State(MATCHED, "已选定机构", final=True),
    State(CLOSED, "已关闭", final=True),
    State(EXPIRED, "已过期", final=True),
), (
    _move("publish", "发布融资需求", [START], OPEN, _ENT),
    _move("quote", "报价", [OPEN], None, _BANK),
    _move("pick", "选定报价", [OPEN], MATCHED, _ENT),
    _move("close", "关闭", [OPEN], CLOSED, _ENT, _OPR),
    _move("expire", "到期", [OPEN], EXPIRED, _SYS),
))

FLOWS: dict[str, Flow] = {f.name: f for f in (APPLICATION, DEFAULT_CASE, PRODUCT, DEMAND)}
