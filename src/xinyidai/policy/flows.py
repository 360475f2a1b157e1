"""The life of a claim as a table, in the market's `Flow` form (so pages, the API and the tests ask one
table): the institution drafts and submits; one officer reviews, a second approves (the service refuses the
reviewer as approver), an officer records the payment; a paid pool claim takes recoveries. Either officer
step may reject it with a reason."""

from __future__ import annotations

from xinyidai.market.flows import START, ActorKind, Flow, Move, State

DRAFT, SUBMITTED, REVIEWED, APPROVED, PAID = "DRAFT", "SUBMITTED", "REVIEWED", "APPROVED", "PAID"
REJECTED, WITHDRAWN = "REJECTED", "WITHDRAWN"
# A claim in one of these holds budget (and, for a pool, the bank's yearly cap).
HOLDING = (SUBMITTED, REVIEWED, APPROVED, PAID)

_INST, _POL = ActorKind.BANK, ActorKind.POLICY


def _m(action: str, label: str, sources: list[str], target: str | None, *actors: ActorKind) -> Move:
    return Move(action, label, frozenset(sources), target, frozenset(actors))


CLAIM = Flow("claim", "申领", (
    State(DRAFT, "草稿"),
    State(SUBMITTED, "已提交，待审核"),
    State(REVIEWED, "已初审，待复核"),
    State(APPROVED, "已复核，待拨付"),
    State(PAID, "已拨付"),
    State(REJECTED, "已退回", final=True),
    State(WITHDRAWN, "已撤回", final=True),
), (
    _m("create", "新建申领", [START], DRAFT, _INST),
    _m("submit", "提交申领", [DRAFT], SUBMITTED, _INST),
    _m("withdraw", "撤回", [DRAFT, SUBMITTED], WITHDRAWN, _INST),
    _m("review", "初审通过", [SUBMITTED], REVIEWED, _POL),
    _m("approve", "复核通过", [REVIEWED], APPROVED, _POL),
    _m("reject", "退回", [SUBMITTED, REVIEWED], REJECTED, _POL),
    _m("pay", "登记拨付", [APPROVED], PAID, _POL),
    # After compensation the bank keeps collecting; each recovery pays the pool back its share.
    _m("recover", "登记追偿回款", [PAID], None, _INST),
))
