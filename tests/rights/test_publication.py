"""Issue 19, credit repair and the publication window (公示期, catalog.publication): a penalty whose window
ended or that was repaired leaves the public tier — banks' profile and detail, the public report, the
evaluation's features from that day — while the history stays truthful: an evaluation as of a day before the
end or the repair counts it as it did."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.access.conftest import BANK_A, ENTITY
from tests.rights.test_marks_world import ENDED, ENDED_ON, PUBLISHED, REPAIRED, REPAIRED_ON, build, grant
from xinyidai.access import sharing, verification
from xinyidai.access.policy import default_policy
from xinyidai.catalog import publication
from xinyidai.credit import evaluation, features
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.node_key import signer_for
from xinyidai.kit.principal import Principal
from xinyidai.reports import service as reports

POLICY = default_policy()
BANK = sharing.actor_of(Principal(0, "officer-a", "龙江银行", "bank", BANK_A))


@pytest.fixture
def world(db, catalog):  # noqa: ANN001, ANN201
    build(db, catalog)


def _penalties(db, day: date) -> float:  # noqa: ANN001
    with db.session() as s:
        feats, _ = features.entity_features(s, ENTITY, day)
    return feats["penalties_3y"]


def test_features_count_a_penalty_until_its_window_ends(db, world) -> None:  # noqa: ANN001
    day = ENDED_ON - timedelta(days=1)
    # (The penalty of 2024 came in today: as of these days the platform did not have it yet.)
    assert _penalties(db, day) == 2  # the one whose window is about to end, and the one not yet repaired
    assert _penalties(db, ENDED_ON) == 1  # from the day the provider's publication ended, no longer


def test_a_repair_does_not_rewrite_history(db, world) -> None:  # noqa: ANN001
    before = REPAIRED_ON - timedelta(days=1)
    assert _penalties(db, before) == 1  # version 1, not repaired, was current then
    assert _penalties(db, REPAIRED_ON) == 0  # version 2, repaired, from its day
    with db.session() as s:
        past = evaluation.evaluate_one(s, ENTITY, before)
        now = evaluation.evaluate_one(s, ENTITY, clock.today())
        again = evaluation.evaluate_one(s, ENTITY, before)
    assert (past["score"], past["grade"], past["explained"]) == (again["score"], again["grade"], again["explained"])
    assert past["features"]["penalties_3y"] == 1 and now["features"]["penalties_3y"] == 1  # the 2024 one
    assert any(x["indicator"] == "penalties" for x in past["explained"])


def test_banks_are_served_only_published_penalties(db, catalog, world) -> None:  # noqa: ANN001
    grant(db, catalog, "原始明细", ["penalty"])  # under an authorization too: not served
    with db.session() as s:
        profile = sharing.profile(s, catalog, POLICY, BANK, ENTITY)
        detail = sharing.detail(s, catalog, POLICY, BANK, ENTITY, "penalty")
    assert profile["categories"]["penalty"]["records"] == 1
    assert profile["categories"]["penalty"]["latest"]["decision_no"] == PUBLISHED
    assert [r["fields"]["decision_no"] for r in detail["rows"]] == [PUBLISHED]


def test_the_public_report_lists_only_published_penalties_and_counts_no_hidden_one(db, catalog, world
                                                                                   ) -> None:  # noqa: ANN001
    signer = signer_for(get_suite("sm").generate_identity())
    with db.session() as s:
        rep = reports.public_report(s, catalog, POLICY, signer, ENTITY, issuer="平台", node_code="CN-230000",
                                    actor="op", verify_base="http://testserver")
        doc = reports.document_of(rep)
    negative = next(x for x in doc.sections if x.key == "negative")
    body = str(doc.to_dict())
    assert [r[0].split("〔注")[0] for r in negative.tables[0].rows] == [PUBLISHED]
    assert "共 1 条" in (negative.tables[0].caption or "")
    assert ENDED not in body and REPAIRED not in body
    summary = next(x for x in doc.sections if x.key == "summary")
    assert ["行政处罚", "1", "公开信息"] in summary.tables[0].rows


def test_the_window_of_each_record(catalog) -> None:  # noqa: ANN001
    cat = catalog.category("penalty")
    today = clock.today()
    w = publication.window(cat, {"decided_on": "2026-10-01"})
    assert w is not None and w.public_on(today) and not w.may_repair_on(today)  # the minimum is 3 months
    safety = publication.window(cat, {"decided_on": "2025-10-01", "reason": "违反安全生产规定"})
    assert safety is not None and safety.earliest_repair == date(2026, 10, 1) and safety.may_repair_on(today)
    assert publication.window(cat, {"decided_on": "2023-11-14"}).state(today) == "ended"  # type: ignore[union-attr]


def test_a_verification_does_not_count_penalties_out_of_their_window(db, catalog, world) -> None:  # noqa: ANN001
    """核验比对 reads the same public tier as every other answer: 2025's two penalties (one ended, one repaired)
    are not counted; the 2024 one still published is."""
    grant(db, catalog, "核验比对", ["penalty"])
    claims = [verification.Claim(category="penalty", item="decision_no", op="eq", value="0", aggregate="count",
                                 period_from="2025-01", period_to="2025-12"),
              verification.Claim(category="penalty", item="decision_no", op="eq", value="1", aggregate="count",
                                 period_from="2024-01", period_to="2024-12")]
    signer = signer_for(get_suite("sm").generate_identity())
    actor = sharing.actor_of(Principal(0, "officer-a", "龙江银行", "bank", BANK_A), "req-window-1")
    with db.session() as s:
        out = verification.verify(s, catalog, POLICY, signer, "CN-230000", actor, ENTITY, claims)
    assert [r["outcome"] for r in out["results"]] == ["match", "match"]
