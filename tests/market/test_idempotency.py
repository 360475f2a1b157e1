"""The market API's request ids: an institution's write needs one, the same id and body is answered from the
store without running again, another body is refused, a refused write keeps nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.market.conftest import BANK, ENTERPRISE, OPERATOR, OTHER_BANK, Market
from xinyidai.kit.errors import Conflict, DomainError
from xinyidai.market import idempotency
from xinyidai.market.idempotency import Answer
from xinyidai.market.models import ApiRequest


def _code(call, *args) -> str:  # noqa: ANN001
    with pytest.raises(DomainError) as info:
        call(*args)
    return info.value.code


def test_same_id_same_body_runs_once_and_answers_again(market: Market) -> None:
    runs: list[int] = []

    def work() -> Answer:
        runs.append(1)
        return Answer(201, {"number": f"X-{len(runs)}", "replayed": False})

    with market.db.session() as s:
        first = idempotency.once(s, BANK, "abc-1", "POST /x", {"a": 1}, work)
        again = idempotency.once(s, BANK, "abc-1", "POST /x", {"a": 1}, work)
        assert (first.status, first.body, first.replayed) == (201, {"number": "X-1", "replayed": False}, False)
        assert (again.status, again.body, again.replayed) == (201, {"number": "X-1", "replayed": True}, True)
        assert runs == [1]
        assert _code(idempotency.once, s, BANK, "abc-1", "POST /x", {"a": 2}, work) == "REQUEST_ID_REUSED"
        assert _code(idempotency.once, s, BANK, "abc-1", "POST /y", {"a": 1}, work) == "REQUEST_ID_REUSED"
        # Ids are each owner's own: another institution may use the same one.
        assert idempotency.once(s, OTHER_BANK, "abc-1", "POST /x", {"a": 2}, work).body["number"] == "X-2"


def test_an_institution_must_name_its_write_and_others_may(market: Market) -> None:
    with market.db.session() as s:
        work = lambda: Answer(200, {})  # noqa: E731
        assert _code(idempotency.once, s, BANK, None, "POST /x", {}, work) == "REQUEST_ID_REQUIRED"
        assert _code(idempotency.once, s, BANK, "  ", "POST /x", {}, work) == "REQUEST_ID_REQUIRED"
        assert _code(idempotency.once, s, BANK, "空 格", "POST /x", {}, work) == "REQUEST_ID_INVALID"
        assert _code(idempotency.once, s, BANK, "x" * 65, "POST /x", {}, work) == "REQUEST_ID_INVALID"
        assert idempotency.once(s, ENTERPRISE, None, "POST /x", {}, work).status == 200
        assert idempotency.once(s, OPERATOR, "op-1", "POST /x", {}, work).status == 200
        assert s.execute(select(ApiRequest.owner)).scalars().all() == ["user:op"]


def test_a_refused_write_keeps_nothing_and_may_be_sent_again(market: Market) -> None:
    def refused() -> Answer:
        raise Conflict("不行", code="OUT_OF_ORDER")

    with market.db.session() as s:
        assert _code(idempotency.once, s, BANK, "r-1", "POST /x", {}, refused) == "OUT_OF_ORDER"
        assert s.execute(select(func.count()).select_from(ApiRequest)).scalar_one() == 0
        assert idempotency.once(s, BANK, "r-1", "POST /x", {}, lambda: Answer(200, {"ok": True})).body == {"ok": True}
