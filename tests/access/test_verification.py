"""Verification (核验比对): answers without values, a signed receipt that verifies, idempotent request ids,
scope enforcement, and the limit on probing an amount."""

from __future__ import annotations

import threading

import orjson
import pytest
from sqlalchemy import select

from xinyidai.access import verification
from xinyidai.access.models import AccessAlert, Authorization
from xinyidai.access.policy import default_policy
from xinyidai.access.sharing import actor_of, log_refusal
from xinyidai.access.verification import Claim
from xinyidai.kit.errors import DomainError
from xinyidai.kit.node_key import verify_signature

from .conftest import ENTITY, World
from .test_sharing import grant

POLICY = default_policy()


def run(db, catalog, w: World, claims: list[dict], request_id: str, principal=None, **kw):  # noqa: ANN001, ANN201
    actor = actor_of(principal or w.bank_a, request_id)
    with db.session() as s:
        try:
            return verification.verify(s, catalog, POLICY, w.signer, "CN-230000", actor, ENTITY,
                                       [Claim(**c) for c in claims], **kw)
        except verification.ProbingLimited as exc:  # as the API does: the alert and the refusal are kept
            log_refusal(s, actor, ENTITY, "verify", exc)
            s.commit()
            raise
        except DomainError:
            s.rollback()
            raise


CLAIMS = [
    {"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge", "value": "500000",
     "period_from": "2025-01", "period_to": "2025-12"},
    {"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge", "value": "700000", "period_from": "2025"},
    {"category": "social_insurance", "item": "insured_count", "aggregate": "latest", "op": "eq", "value": "36"},
    {"category": "judicial", "op": "not_exists", "period_from": "2024-01", "where": {"case_type": "执行"}},
    {"category": "judicial", "op": "exists", "where": {"case_type": "执行"}},
    {"category": "tax", "item": "tax_credit_grade", "op": "eq", "value": "A", "period_from": "2027-01"},
]


def test_claims_answered_without_values_and_receipt_verifies(db, catalog, world: World) -> None:  # noqa: ANN001
    grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax", "social_insurance", "judicial"))
    out = run(db, catalog, world, CLAIMS, "v-1")
    assert [r["outcome"] for r in out["results"]] == ["match", "no_match", "match", "match", "match",
                                                      "undeterminable"]
    body = orjson.dumps(out).decode()
    assert "600000" not in body and "50000" not in body
    receipt = out["receipt"]
    message = verification.receipt_message(receipt)
    assert verify_signature(receipt["suite"], world.signer.public_key, message, bytes.fromhex(receipt["signature"]))
    forged = {**receipt["statement"], "results": [{"index": 0, "outcome": "no_match"}]}
    assert not verify_signature(receipt["suite"], world.signer.public_key,
                                orjson.dumps(forged, option=orjson.OPT_SORT_KEYS), bytes.fromhex(receipt["signature"]))


def test_request_id_is_idempotent(db, catalog, world: World) -> None:  # noqa: ANN001
    grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax",), max_uses=5)
    first = run(db, catalog, world, CLAIMS[:1], "v-2")
    again = run(db, catalog, world, CLAIMS[:1], "v-2")
    assert again["replayed"] and again["receipt"] == first["receipt"]
    with db.session() as s:
        assert s.execute(select(Authorization.uses)).scalar_one() == 1
    with pytest.raises(DomainError) as e:
        run(db, catalog, world, CLAIMS[1:2], "v-2")
    assert e.value.code == "REQUEST_ID_REUSED"


def test_request_id_racing_on_two_connections_is_answered_once(db, catalog, world: World) -> None:  # noqa: ANN001
    """Two requests with one id at the same time: the second waits for the first, then gets its answer as a
    replay (not a server error), and only one use of the authorization is spent."""
    if db.engine.dialect.name == "sqlite":  # the app serializes SQLite writers; the race needs row locks
        pytest.skip("concurrent writers on two connections: PostgreSQL only (runs in CI's PostgreSQL pass)")
    grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax",), max_uses=5)
    actor = actor_of(world.bank_a, "v-race")
    claims = [Claim(**CLAIMS[0])]
    first_session = db.sessions()
    first = verification.verify(first_session, catalog, POLICY, world.signer, "CN-230000", actor, ENTITY, claims)
    second: dict = {}

    def other() -> None:
        with db.session() as s:  # blocks on the authorization's row lock until the first commits
            second.update(verification.verify(s, catalog, POLICY, world.signer, "CN-230000", actor, ENTITY, claims))

    t = threading.Thread(target=other)
    t.start()
    t.join(1.0)
    assert t.is_alive()  # still waiting for the first transaction
    first_session.commit()
    first_session.close()
    t.join(30)
    assert second["replayed"] and second["receipt"] == first["receipt"]
    with db.session() as s:
        assert s.execute(select(Authorization.uses)).scalar_one() == 1


def test_needs_a_verification_authorization_covering_each_category(db, catalog, world: World) -> None:  # noqa: ANN001
    with pytest.raises(DomainError) as e:
        run(db, catalog, world, CLAIMS[:1], "v-3")
    assert e.value.code == "NO_AUTHORIZATION"
    grant(db, catalog, world, mode="原始明细", categories=("tax",))  # a query authorization does not verify
    with pytest.raises(DomainError) as e:
        run(db, catalog, world, CLAIMS[:1], "v-4")
    assert e.value.code == "NO_AUTHORIZATION"
    grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax",))
    with pytest.raises(DomainError) as e:
        run(db, catalog, world, CLAIMS[2:3], "v-5")
    assert e.value.code == "OUT_OF_SCOPE"
    with pytest.raises(DomainError) as e:
        run(db, catalog, world, CLAIMS[:1], "v-6", principal=world.bank_b)
    assert e.value.code == "NO_AUTHORIZATION"


def test_bad_claims(db, catalog, world: World) -> None:  # noqa: ANN001
    grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax",))
    for claim, code in (({"category": "tax", "item": "nope", "op": "eq", "value": "1"}, "UNKNOWN_ITEM"),
                        ({"category": "tax", "item": "tax_credit_grade", "op": "ge", "value": "A"}, "BAD_CLAIMS"),
                        ({"category": "tax", "item": "tax_paid", "op": "ge", "value": "1",
                          "period_from": "2025-13"}, "BAD_PERIOD")):
        with pytest.raises(DomainError) as e:
            run(db, catalog, world, [claim], f"bad-{code}")
        assert e.value.code == code


@pytest.mark.parametrize("claim", [
    {"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge", "value": "abc"},
    {"category": "tax", "item": "tax_paid", "op": "le", "value": "NaN"},
    {"category": "tax", "item": "tax_paid", "op": "eq", "value": "五十万"},
    {"category": "tax", "op": "ge", "item": "tax_credit_grade", "aggregate": "count", "value": "x"},
    {"category": "tax", "item": "tax_credit_grade", "aggregate": "sum", "op": "eq", "value": "A"},
])
def test_malformed_claim_is_refused_before_a_use_is_spent(db, catalog, world: World, claim: dict) -> None:  # noqa: ANN001
    """A claim that could only be answered "无法判断" (a value that is not a number, a sum over text) is
    refused as such: no use of a limited authorization, no receipt, no stored request."""
    grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax",), max_uses=5)
    with pytest.raises(DomainError) as e:
        run(db, catalog, world, [claim], "bad-value")
    assert e.value.code == "INVALID_CLAIM" and e.value.status == 422
    with db.session() as s:
        assert s.execute(select(Authorization.uses)).scalar_one() == 0
        assert s.execute(select(verification.VerificationRequest)).first() is None


def test_probing_an_amount_is_limited_and_flagged(db, catalog, world: World) -> None:  # noqa: ANN001
    grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax",))
    low, high = 0, 1_000_000
    for i in range(POLICY.probing_limit):  # a binary search on the 2025 total
        mid = (low + high) // 2
        r = run(db, catalog, world, [{"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge",
                                      "value": str(mid), "period_from": "2025"}], f"p-{i}")
        low, high = (mid, high) if r["results"][0]["outcome"] == "match" else (low, mid)
    with pytest.raises(verification.ProbingLimited):
        run(db, catalog, world, [{"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge",
                                  "value": str((low + high) // 2), "period_from": "2025"}], "p-last")
    with db.session() as s:
        alert = s.execute(select(AccessAlert)).scalar_one()
        assert alert.rule == "probing" and alert.entity_code == ENTITY


def test_only_the_authorizations_covering_the_claims_are_spent(db, catalog, world: World) -> None:  # noqa: ANN001
    """A claim about 纳税 spends the verification authorization that covers 纳税, not another that covers
    only 社会保险; the receipt and the log name the one it spent."""
    tax = grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("tax",), max_uses=5)
    social = grant(db, catalog, world, mode="核验比对", purpose="核验", categories=("social_insurance",), max_uses=5)
    out = run(db, catalog, world, CLAIMS[:1], "v-cover")
    assert out["receipt"]["statement"]["authorizations"] == [tax]
    with db.session() as s:
        uses = dict(s.execute(select(Authorization.number, Authorization.uses)).all())
    assert (uses[tax], uses[social]) == (1, 0)
