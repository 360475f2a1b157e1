"""The market's flows: the application table against the issue's rules written out a second time, no
sequence of calls reaching an invalid state (stateful property tests), and each refusal's code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput
from xinyidai.market import flows as F
from xinyidai.market.flows import (
    APPLICATION,
    DEFAULT_CASE,
    DEMAND,
    FLOWS,
    PRODUCT,
    START,
    ActorKind,
    ActorNotAllowed,
    AlreadyDone,
    AlreadyFinal,
    Flow,
    FlowError,
    Move,
    OutOfOrder,
    State,
    ThresholdNotReached,
    UnknownAction,
    system_moves,
)

ENT, BANK, OPR, SYS = ActorKind.ENTERPRISE, ActorKind.BANK, ActorKind.OPERATOR, ActorKind.SYSTEM
PRE_GRANT = ["SUBMITTED", "ACCEPTED", "AUTH_REQUESTED", "OFFERED", "OFFER_ACCEPTED"]
FINAL = ["CLOSED", "DECLINED", "REJECTED", "WITHDRAWN", "EXPIRED", "CANCELLED"]

# The application's rules as the issue and FINANCING.md state them, written independently of flows.py:
# (source, action) → target, and who may take each action.
SPEC: dict[tuple[str, str], str] = {
    (START, "submit"): "SUBMITTED",
    (START, "pick_quote"): "ACCEPTED",
    ("SUBMITTED", "accept"): "ACCEPTED",
    ("SUBMITTED", "decline"): "DECLINED",
    ("ACCEPTED", "request_auth"): "AUTH_REQUESTED",
    ("AUTH_REQUESTED", "confirm_auth"): "ACCEPTED",
    ("ACCEPTED", "offer"): "OFFERED",
    ("OFFERED", "offer"): "OFFERED",
    ("OFFERED", "accept_offer"): "OFFER_ACCEPTED",
    ("OFFERED", "decline_offer"): "ACCEPTED",
    ("OFFER_ACCEPTED", "grant"): "GRANTED",
    ("GRANTED", "disburse"): "DISBURSED",
    ("DISBURSED", "disburse"): "DISBURSED",
    ("GRANTED", "close"): "CLOSED",
    ("DISBURSED", "close"): "CLOSED",
    **{(s, "reject"): "REJECTED" for s in PRE_GRANT if s != "SUBMITTED"},
    **{(s, "withdraw"): "WITHDRAWN" for s in PRE_GRANT},
    **{(s, "expire"): "EXPIRED" for s in PRE_GRANT},
    **{(s, "cancel"): "CANCELLED" for s in PRE_GRANT},
}
WHO: dict[str, set[ActorKind]] = {
    "submit": {ENT}, "pick_quote": {ENT}, "accept": {BANK}, "decline": {BANK}, "request_auth": {BANK},
    "confirm_auth": {ENT}, "offer": {BANK}, "accept_offer": {ENT}, "decline_offer": {ENT}, "grant": {BANK},
    "disburse": {BANK}, "close": {BANK, SYS}, "reject": {BANK}, "withdraw": {ENT}, "expire": {SYS},
    "cancel": {OPR},
}
CODES = {"ACTOR_NOT_ALLOWED", "ALREADY_FINAL", "ALREADY_DONE", "OUT_OF_ORDER", "THRESHOLD_NOT_REACHED"}


def test_application_table_is_the_spec() -> None:
    """Every (state, action, actor) answers as the written-out rules say: the new state or the refusal."""
    assert {m.action for m in APPLICATION.moves} == set(WHO)
    for state in [START, *(s.code for s in APPLICATION.states)]:
        for action, actors in WHO.items():
            for actor in ActorKind:
                if actor not in actors:
                    expected: type[Exception] | str = ActorNotAllowed
                elif state in FINAL:
                    expected = AlreadyFinal
                else:
                    expected = SPEC.get((state, action), OutOfOrder)
                if isinstance(expected, str):
                    assert APPLICATION.check(state, action, actor) == expected, (state, action, actor)
                else:
                    with pytest.raises(expected):
                        APPLICATION.check(state, action, actor)


# ── no sequence of calls reaches an invalid state ──────────────────────────────────────────────────────

class ApplicationMachine(RuleBasedStateMachine):
    """Drives one application with calls by anyone, in any order: random ones (mostly refused) and ones
    drawn from what the table offers now (to get deep). A refusal must leave the state as it was."""

    def __init__(self) -> None:
        super().__init__()
        self.state = START
        self.last: str | None = None
        self.trail: list[tuple[str, ActorKind, str]] = []  # (action, actor, state after)

    def _take(self, action: str, actor: ActorKind) -> None:
        before = self.state
        try:
            after = APPLICATION.check(before, action, actor, last_action=self.last)
        except FlowError as exc:
            assert exc.code in CODES
            assert exc.status in (403, 409)
            assert exc.detail["state"] == before and exc.detail["action"] == action
            assert self.state == before
            return
        assert actor in WHO[action]
        assert SPEC[(before, action)] == after
        self.state, self.last = after, action
        self.trail.append((action, actor, after))

    @rule(action=st.sampled_from(sorted(WHO)), actor=st.sampled_from(list(ActorKind)))
    def anything(self, action: str, actor: ActorKind) -> None:
        self._take(action, actor)

    @precondition(lambda self: not (self.state and APPLICATION.is_final(self.state)))
    @rule(data=st.data())
    def something_allowed(self, data: st.DataObject) -> None:
        move = data.draw(st.sampled_from(APPLICATION.moves_from(self.state)))
        self._take(move.action, data.draw(st.sampled_from(sorted(move.actors))))

    @precondition(lambda self: not (self.state and APPLICATION.is_final(self.state)))
    @rule(data=st.data())
    def step_forward(self, data: st.DataObject) -> None:
        """An allowed move that does not end the application, so runs reach 授信 and 放款 often."""
        moves = [m for m in APPLICATION.moves_from(self.state) if m.target and not APPLICATION.is_final(m.target)]
        if moves:
            move = data.draw(st.sampled_from(moves))
            self._take(move.action, data.draw(st.sampled_from(sorted(move.actors))))

    def _states(self) -> list[str]:
        return [s for _, _, s in self.trail]

    @invariant()
    def state_is_known(self) -> None:
        assert self.state == START or self.state in {s.code for s in APPLICATION.states}

    @invariant()
    def nothing_leaves_a_final_state(self) -> None:
        states = self._states()
        for i, s in enumerate(states):
            if s in FINAL:
                assert i == len(states) - 1, self.trail

    @invariant()
    def granted_only_on_accepted_terms(self) -> None:
        states = self._states()
        if "GRANTED" in states:
            g = states.index("GRANTED")
            assert "OFFER_ACCEPTED" in states[:g]
            assert "OFFERED" in states[:states.index("OFFER_ACCEPTED")]
            assert self.trail[g][0] == "grant" and self.trail[g][1] == BANK

    @invariant()
    def disbursed_only_after_grant(self) -> None:
        states = self._states()
        if "DISBURSED" in states:
            assert "GRANTED" in states[:states.index("DISBURSED")]

    @invariant()
    def no_walking_away_after_grant(self) -> None:
        states = self._states()
        if "GRANTED" in states:
            assert not {"WITHDRAWN", "REJECTED", "EXPIRED", "CANCELLED", "DECLINED"} & set(states)
            assert self.state in ("GRANTED", "DISBURSED", "CLOSED")


ApplicationMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestApplicationMachine = ApplicationMachine.TestCase


class DefaultCaseMachine(RuleBasedStateMachine):
    """A loan's case under monthly reports (the system's moves) and people's actions in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.state = START
        self.trail: list[str] = []
        self.max_dpd = 0
        self.dpd = 0  # the latest report's figure: what a person acting on the case sees (cases.act)

    @rule(dpd=st.integers(0, 200))
    def report(self, dpd: int) -> None:
        self.dpd = dpd
        if self.state in (F.CURED, F.RESTRUCTURED, F.NPL, F.CLOSED):
            return  # an outcome waits for a person; a new overdue report would open a new case
        for action in system_moves(self.state, dpd):
            self.state = DEFAULT_CASE.check(self.state, action, SYS, dpd=dpd)  # never refused
            self.trail.append(self.state)
        if self.state in F.CASE_OPEN:
            self.max_dpd = max(self.max_dpd, dpd)
            assert (self.state == F.ESCALATED) == (self.max_dpd >= F.ESCALATE_DPD)
        if dpd >= F.NPL_DPD and self.trail and self.trail[-1] != F.CURED:
            assert self.state == F.NPL

    @rule(action=st.sampled_from([m.action for m in DEFAULT_CASE.moves]), actor=st.sampled_from(list(ActorKind)))
    def someone_acts(self, action: str, actor: ActorKind) -> None:
        before = self.state
        try:
            self.state = DEFAULT_CASE.check(before, action, actor, dpd=self.dpd)
        except FlowError as exc:
            assert exc.code in CODES and self.state == before
            return
        if self.state != before or action != "respond":
            self.trail.append(self.state)
        assert action != "respond" or self.state == before

    @invariant()
    def npl_only_after_escalation(self) -> None:
        if F.NPL in self.trail:
            assert F.ESCALATED in self.trail[:self.trail.index(F.NPL)]

    @invariant()
    def closed_only_from_an_outcome(self) -> None:
        if F.CLOSED in self.trail:
            i = self.trail.index(F.CLOSED)
            assert i == len(self.trail) - 1
            assert self.trail[i - 1] in (F.CURED, F.RESTRUCTURED, F.NPL)


DefaultCaseMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestDefaultCaseMachine = DefaultCaseMachine.TestCase


@given(st.sampled_from([START, *F.CASE_OPEN]), st.integers(0, 400))
def test_system_moves_are_always_allowed(state: str, dpd: int) -> None:
    for action in system_moves(state, dpd):
        state = DEFAULT_CASE.check(state, action, SYS, dpd=dpd)
    if dpd == 0:
        assert state in (START, F.CURED)
    elif dpd >= F.NPL_DPD:
        assert state == F.NPL


# ── each refusal's code ────────────────────────────────────────────────────────────────────────────────

def test_disbursing_before_approval_is_out_of_order() -> None:
    with pytest.raises(OutOfOrder) as exc:
        APPLICATION.check("SUBMITTED", "disburse", BANK)
    e = exc.value
    assert e.code == "OUT_OF_ORDER" and e.status == 409 and isinstance(e, Conflict)
    assert "已提交，待受理" in e.message and "放款" in e.message
    assert "受理（金融机构）" in e.message and "撤回申请（企业）" in e.message
    assert {a["action"] for a in e.detail["allowed"]} == {"accept", "decline", "withdraw", "expire", "cancel"}
    assert e.to_dict()["error"] == "OUT_OF_ORDER"


def test_grant_needs_an_accepted_offer() -> None:
    with pytest.raises(OutOfOrder, match="预授信"):
        APPLICATION.check("ACCEPTED", "grant", BANK)
    with pytest.raises(OutOfOrder):
        APPLICATION.check("OFFERED", "grant", BANK)


def test_approving_a_withdrawn_application_is_refused_as_final() -> None:
    with pytest.raises(AlreadyFinal) as exc:
        APPLICATION.check("WITHDRAWN", "grant", BANK)
    assert exc.value.code == "ALREADY_FINAL" and "企业已撤回" in exc.value.message
    assert exc.value.detail["allowed"] == []


def test_no_withdrawal_after_grant() -> None:
    for state in ("GRANTED", "DISBURSED"):
        with pytest.raises(OutOfOrder, match="结清"):
            APPLICATION.check(state, "withdraw", ENT)


def test_a_repeat_is_already_done_only_when_it_was_the_last_move() -> None:
    with pytest.raises(AlreadyDone) as exc:
        APPLICATION.check("ACCEPTED", "accept", BANK, last_action="accept")
    assert exc.value.code == "ALREADY_DONE"
    # ACCEPTED reached another way: accepting now is simply out of order
    with pytest.raises(OutOfOrder):
        APPLICATION.check("ACCEPTED", "accept", BANK, last_action="confirm_auth")


def test_actor_kind_is_checked_first() -> None:
    with pytest.raises(ActorNotAllowed) as exc:
        APPLICATION.check("OFFER_ACCEPTED", "grant", ENT)
    assert exc.value.status == 403 and isinstance(exc.value, Forbidden)
    assert "金融机构" in exc.value.message and "企业不能办理" in exc.value.message
    with pytest.raises(ActorNotAllowed):
        APPLICATION.check("SUBMITTED", "withdraw", BANK)  # only the enterprise withdraws
    with pytest.raises(ActorNotAllowed):
        APPLICATION.check("WITHDRAWN", "expire", ENT)  # never the enterprise's, even when final


def test_unknown_action() -> None:
    with pytest.raises(UnknownAction) as exc:
        APPLICATION.check("SUBMITTED", "approve", BANK)
    assert exc.value.status == 422 and isinstance(exc.value, InvalidInput)
    assert "授信（grant）" in exc.value.message


def test_unknown_state_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        APPLICATION.check("APPROVED", "grant", BANK)


def test_revised_offers_and_drawdowns_repeat() -> None:
    assert APPLICATION.check("OFFERED", "offer", BANK, last_action="offer") == "OFFERED"
    assert APPLICATION.check("DISBURSED", "disburse", BANK, last_action="disburse") == "DISBURSED"


def test_default_case_thresholds() -> None:
    with pytest.raises(ThresholdNotReached) as exc:
        DEFAULT_CASE.check(F.REMINDED, "escalate", OPR, dpd=29)
    assert exc.value.code == "THRESHOLD_NOT_REACHED" and "30" in exc.value.message
    assert exc.value.detail["min_dpd"] == 30 and exc.value.detail["dpd"] == 29
    assert DEFAULT_CASE.check(F.REMINDED, "escalate", OPR, dpd=30) == F.ESCALATED
    with pytest.raises(ThresholdNotReached, match="未知"):
        DEFAULT_CASE.check(F.ESCALATED, "classify_npl", BANK)
    with pytest.raises(ThresholdNotReached):
        DEFAULT_CASE.check(F.ESCALATED, "classify_npl", SYS, dpd=89)
    with pytest.raises(OutOfOrder):  # never straight to non-performing: the city's office comes first
        DEFAULT_CASE.check(F.REMINDED, "classify_npl", SYS, dpd=120)


def test_default_case_moves() -> None:
    assert system_moves(START, 0) == []
    assert system_moves(START, 3) == ["open", "remind"]
    assert system_moves(START, 95) == ["open", "remind", "escalate", "classify_npl"]
    assert system_moves(F.REMINDED, 45) == ["escalate"]
    assert system_moves(F.ESCALATED, 40) == []  # a falling figure never de-escalates
    assert system_moves(F.ESCALATED, 0) == ["cure"]
    assert system_moves(F.NPL, 0) == []  # recovery of a bad loan is closed by a person
    with pytest.raises(ValueError):
        system_moves(START, -1)
    assert DEFAULT_CASE.check(F.ESCALATED, "respond", ENT) == F.ESCALATED
    with pytest.raises(ActorNotAllowed):
        DEFAULT_CASE.check(F.REMINDED, "restructure", OPR)
    with pytest.raises(AlreadyFinal):
        DEFAULT_CASE.check(F.CLOSED, "remind", SYS)


def test_product_versions() -> None:
    with pytest.raises(ActorNotAllowed):  # a bank cannot publish its own product
        PRODUCT.check(F.REVIEW, "publish", BANK)
    assert PRODUCT.check(F.REVIEW, "return", OPR) == F.DRAFT
    assert PRODUCT.check(F.SUSPENDED, "resume", BANK) == F.PUBLISHED
    with pytest.raises(OutOfOrder):
        PRODUCT.check(F.DRAFT, "supersede", SYS)
    with pytest.raises(AlreadyFinal):
        PRODUCT.check(F.SUPERSEDED, "suspend", OPR)


def test_demands() -> None:
    assert DEMAND.check(F.OPEN, "quote", BANK) == F.OPEN
    with pytest.raises(AlreadyFinal, match="已选定机构"):
        DEMAND.check(F.MATCHED, "quote", BANK)


def test_every_flow_lists_the_next_steps_in_words() -> None:
    for flow in FLOWS.values():
        for s in flow.states:
            text = flow.next_text(s.code)
            assert (text == "无（流程已结束）") == s.final
    assert APPLICATION.next_text(START) == "提交申请（企业）、选定报价并申请（企业）"


def test_a_bad_table_fails_when_built() -> None:
    with pytest.raises(ValueError, match="leaves the final state"):
        Flow("bad", "东西", (State("A", "甲"), State("Z", "终", final=True)),
             (Move("make", "建", frozenset({START}), "A", frozenset({SYS})),
              Move("end", "结", frozenset({"A"}), "Z", frozenset({SYS})),
              Move("undo", "回", frozenset({"Z"}), "A", frozenset({SYS}))))
    with pytest.raises(ValueError, match="no move leaves it"):
        Flow("stuck", "东西", (State("A", "甲"),), (Move("make", "建", frozenset({START}), "A", frozenset({SYS})),))


def test_refusals_share_the_error_shape() -> None:
    for cls in (UnknownAction, ActorNotAllowed, OutOfOrder, AlreadyFinal, AlreadyDone, ThresholdNotReached):
        assert issubclass(cls, FlowError) and issubclass(cls, DomainError)
