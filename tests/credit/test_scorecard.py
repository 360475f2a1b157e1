"""Scorecard: metrics by hand, WOE/IV by hand, binning rules, scaling, storage, errors, and the real German
credit data on its fixed held-out split."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from tests.credit.german import german_split
from xinyidai.credit.metrics import auc, gini, ks, psi, psi_from_counts
from xinyidai.credit.scorecard import (
    MISSING,
    Binning,
    InsufficientData,
    NoVariableSelected,
    Scaling,
    Scorecard,
    SingleClass,
    UnknownColumn,
    bin_variable,
    fit_logistic,
    psi_by_variable,
    train,
)
from xinyidai.kit.errors import InvalidInput


@pytest.fixture(scope="module")
def german() -> tuple[dict[str, Any], np.ndarray, dict[str, Any], np.ndarray]:
    return german_split()


@pytest.fixture(scope="module")
def card(german: tuple[dict[str, Any], np.ndarray, dict[str, Any], np.ndarray]) -> Scorecard:
    tr, ytr, te, yte = german
    return train(tr, ytr, eval_frame=te, eval_target=yte)


def synthetic(n: int = 2000, seed: int = 1) -> tuple[dict[str, Any], np.ndarray]:
    """Two informative numeric variables (one with gaps), one categorical, one noise column."""
    rng = np.random.default_rng(seed)
    income = rng.normal(0, 1, n)
    debt = rng.normal(0, 1, n)
    region = rng.choice(["东区", "西区", "南区", "北区", "偏远"], size=n, p=[0.3, 0.3, 0.2, 0.17, 0.03])
    lin = -1.0 - 1.2 * income + 0.8 * debt + np.where(region == "西区", 0.7, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    debt_with_gaps: list[float | None] = [None if i % 10 == 0 else float(v) for i, v in enumerate(debt)]
    return {"income": income, "debt": debt_with_gaps, "region": list(region), "noise": rng.normal(0, 1, n)}, y


# -------------------------------------------------------------------------------------------------------
# Metrics


def brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    bad, good = s[y == 1], s[y == 0]
    wins = (bad[:, None] > good[None, :]).sum() + 0.5 * (bad[:, None] == good[None, :]).sum()
    return wins / (bad.size * good.size)


def test_auc_known_values() -> None:
    assert auc([0, 1, 0, 1], [5, 5, 5, 5]) == 0.5  # a constant score separates nothing
    assert auc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert auc([0, 0, 1, 1], [4, 3, 2, 1]) == 0.0
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # bads at 1 and 3, goods at 1 and 2: pairs win 0.5 (tie) + 0 + 1 + 1 of 4
    assert auc([0, 1, 0, 1], [1, 1, 2, 3]) == 0.625
    assert gini([0, 1, 0, 1], [1, 1, 2, 3]) == 0.25


def test_auc_matches_pairwise_count_with_many_ties() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    s = rng.integers(0, 12, 400).astype(float)  # heavy ties
    assert auc(y, s) == pytest.approx(brute_auc(y, s), abs=1e-12)
    assert auc(y, -s) == pytest.approx(1 - auc(y, s), abs=1e-12)


def test_ks_known_values() -> None:
    # sorted: 0.1 good, 0.35 bad, 0.4 good, 0.8 bad → cum bad 0 .5 .5 1, cum good .5 .5 1 1
    assert ks([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.5
    assert ks([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert ks([0, 1, 0, 1], [7, 7, 7, 7]) == 0.0  # a tie is never split between the classes
    assert ks([0, 0, 1, 1], [1, 2, 3, 4]) == ks([0, 0, 1, 1], [-1, -2, -3, -4])


def test_metrics_reject_bad_input() -> None:
    with pytest.raises(InvalidInput) as e:
        auc([1, 1, 1], [1, 2, 3])
    assert e.value.code == "SINGLE_CLASS"
    with pytest.raises(InvalidInput) as e:
        auc([0, 2, 1], [1, 2, 3])
    assert e.value.code == "INVALID_TARGET"


def test_psi() -> None:
    x = np.arange(1000, dtype=float)
    assert psi(x, x) == 0.0
    assert psi(x, x, bins=[250, 500, 750]) == 0.0
    # shares .5/.5 against .25/.75: (.25-.5)·ln(.25/.5) + (.75-.5)·ln(.75/.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi_from_counts([50, 50], [25, 75], smoothing=0) == pytest.approx(expected)
    shifted = psi([0.0] * 50 + [1.0] * 50, [0.0] * 25 + [1.0] * 75, bins=[0.5], smoothing=0)
    assert shifted == pytest.approx(expected)
    # default smoothing adds half a count to every bin
    e, a = np.array([50.5, 50.5]) / 101, np.array([25.5, 75.5]) / 101
    assert psi_from_counts([50, 50], [25, 75]) == pytest.approx(float(np.sum((a - e) * np.log(a / e))))
    # an empty bin stays finite with smoothing, and missing values count as a bin of their own
    assert math.isfinite(psi_from_counts([100, 0], [50, 50]))
    assert psi(x, np.where(x < 300, np.nan, x)) > 0.25


# -------------------------------------------------------------------------------------------------------
# Binning


def test_woe_iv_by_hand() -> None:
    values = ["A"] * 10 + ["B"] * 10 + ["C"] * 10
    y = [0] * 8 + [1] * 2 + [0] * 5 + [1] * 5 + [0] * 2 + [1] * 8
    b = bin_variable("grade", values, y, max_cat_bins=None, smoothing=0)
    assert b.kind == "categorical" and b.labels == ["A", "B", "C"]  # ordered by bad rate
    # A: good share 8/15, bad share 2/15 → ln 4; B: 0; C: ln ¼
    assert b.woe == pytest.approx([math.log(4), 0.0, -math.log(4)])
    assert b.iv == pytest.approx(2 * (6 / 15) * math.log(4))
    smoothed = bin_variable("grade", values, y, max_cat_bins=None)
    # +0.5 per cell: good share (8.5)/(16.5), bad share (2.5)/(16.5)
    assert smoothed.woe[0] == pytest.approx(math.log(8.5 / 2.5))
    assert smoothed.iv == pytest.approx(2 * (6 / 16.5) * math.log(3.4))
    assert list(smoothed.transform(["C", "A", "B"])) == pytest.approx([smoothed.woe[2], smoothed.woe[0], 0.0])
    table = smoothed.table()
    assert [r["count"] for r in table] == [10, 10, 10] and table[2]["bad_rate"] == 0.8
    assert sum(r["iv"] for r in table) == pytest.approx(smoothed.iv)


def test_numeric_binning_is_monotone_sized_and_has_missing_bin() -> None:
    frame, y = synthetic()
    b = bin_variable("debt", frame["debt"], y, min_bin_frac=0.05)
    assert b.kind == "numeric" and b.missing_bin == b.n_bins - 1 and b.labels[-1] == MISSING
    woe = np.array(b.woe[:-1])
    assert b.n_bins - 1 >= 3
    assert np.all(np.diff(woe) < 0)  # more debt, more bads, lower WOE
    for row in b.table():
        assert row["count"] >= 0.05 * len(y) and row["good"] > 0 and row["bad"] > 0
    assert b.labels[0].startswith("(-∞, ") and b.labels[1].startswith("[") and b.labels[-2].endswith("+∞)")
    assert b.transform([None])[0] == b.woe[-1] and b.transform([float("nan")])[0] == b.woe[-1]
    # the cut point belongs to the upper bin: [c, …)
    assert b.bin_index([b.cuts[0]])[0] == 1 and b.bin_index([np.nextafter(b.cuts[0], -np.inf)])[0] == 0


def test_monotone_constraint_on_u_shape() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(x * x - 3)))).astype(int)  # U-shaped risk
    free = bin_variable("u", x, y, monotonic=False, max_bins=8)
    mono = bin_variable("u", x, y, monotonic=True, max_bins=8)
    d_free, d_mono = np.diff(free.woe), np.diff(mono.woe)
    assert not (np.all(d_free < 0) or np.all(d_free > 0))  # the shape is really there without the constraint
    assert np.all(d_mono < 0) or np.all(d_mono > 0)
    assert mono.missing_bin is None
    # no missing values in training: a missing value gets the riskiest bin, never a neutral one
    assert mono.transform([None])[0] == min(mono.woe)


def test_categorical_rare_and_unseen_go_to_other() -> None:
    frame, y = synthetic()
    b = bin_variable("region", frame["region"], y)
    assert b.other_bin is not None and "其他（偏远）" in b.labels[b.other_bin]
    assert b.transform(["火星"])[0] == b.woe[b.other_bin]
    restored = Binning.from_dict(json.loads(json.dumps(b.to_dict(), ensure_ascii=False)))
    assert restored == b


# -------------------------------------------------------------------------------------------------------
# Regression and scaling


def test_logistic_matches_known_solution() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (5000, 2))
    y = (rng.random(5000) < 1 / (1 + np.exp(-(0.5 + x @ [1.5, -2.0])))).astype(float)
    fit = fit_logistic(x, y, l2=1e-9)
    assert fit.intercept == pytest.approx(0.5, abs=0.12) and fit.coef == pytest.approx([1.5, -2.0], abs=0.15)
    # at the optimum the unpenalised score equations hold: Σ(p − y) = 0 and Σ x(p − y) = 0
    p = 1 / (1 + np.exp(-(fit.intercept + x @ fit.coef)))
    assert abs((p - y).sum()) < 1e-5 and np.abs(x.T @ (p - y)).max() < 1e-4
    with pytest.raises(SingleClass):
        fit_logistic(x, np.zeros(5000))


def test_scaling_base_odds_and_pdo() -> None:
    s = Scaling(base_score=600, base_odds=50, pdo=20)
    assert float(s.score(math.log(1 / 50))) == pytest.approx(600)  # good:bad 50:1 scores the base
    assert float(s.score(math.log(1 / 100))) == pytest.approx(620)  # doubling the good odds adds PDO
    assert float(s.score(math.log(1 / 25))) == pytest.approx(580)
    other = Scaling(base_score=500, base_odds=20, pdo=40)
    assert float(other.score(-math.log(20))) == pytest.approx(500)
    assert float(other.score(-math.log(40))) == pytest.approx(540)


def test_card_scores_follow_scaling(card: Scorecard, german: Any) -> None:
    _, _, te, _ = german
    p_bad = card.predict_proba(te)
    odds_good = (1 - p_bad) / p_bad
    expected = 600 + 20 / math.log(2) * np.log(odds_good / 50)
    assert card.score(te) == pytest.approx(expected)
    # the integer card: base points plus one rounded bin per variable, within half a point per term
    assert np.abs(card.score(te, rounded=True) - card.score(te)).max() <= 0.5 * (len(card.variables) + 1)


# -------------------------------------------------------------------------------------------------------
# The German credit data


def test_german_held_out_performance(card: Scorecard) -> None:
    test = card.metrics["test"]
    assert test["rows"] == 300 and test["bads"] == 90 and card.metrics["train"]["rows"] == 700
    print(f"German held-out: AUC {test['auc']:.4f}, KS {test['ks']:.4f}, Gini {test['gini']:.4f}, "
          f"{len(card.variables)} variables")
    assert test["auc"] >= 0.78
    assert test["gini"] == pytest.approx(2 * test["auc"] - 1)
    assert 0.35 <= test["ks"] <= 0.7
    assert test["ks"] <= test["gini"] + 1e-12  # KS never exceeds the Gini coefficient
    assert card.metrics["train"]["auc"] >= test["auc"] - 0.05


def test_german_selection_and_points(card: Scorecard) -> None:
    chosen = {s["variable"]: s for s in card.selection if s["selected"]}
    assert set(chosen) == set(card.variables)
    assert "status_of_existing_checking_account" in chosen  # by far the strongest variable
    assert all(s["iv"] >= 0.02 for s in chosen.values())
    assert all(c < 0 for c in card.coefficients.values())  # WOE coding: every coefficient negative
    table = card.points_table()
    assert table[0]["variable"] == "基础分"
    checking = [r for r in table if r["variable"] == "status_of_existing_checking_account"]
    best = max(checking, key=lambda r: r["points"])
    assert best["label"] == "no checking account" and all(isinstance(r["points"], int) for r in table)


def test_german_psi_by_variable_is_stable_on_a_random_split(card: Scorecard, german: Any) -> None:
    tr, _, te, _ = german
    values = psi_by_variable(card, tr, te)
    assert set(values) == set(card.variables)
    assert all(0 <= v < 0.1 for v in values.values())
    assert psi(card.score(tr), card.score(te)) < 0.1


def test_json_round_trip_gives_identical_scores(card: Scorecard, german: Any) -> None:
    _, _, te, _ = german
    text = json.dumps(card.to_dict(), ensure_ascii=False)
    restored = Scorecard.from_dict(json.loads(text))
    assert np.array_equal(restored.score(te), card.score(te))
    assert np.array_equal(restored.score(te, rounded=True), card.score(te, rounded=True))
    assert restored.points_table() == card.points_table()
    assert restored.metrics == card.metrics
    stored = json.loads(text)
    assert {v["name"] for v in stored["variables"]} == set(card.variables)
    assert all("iv" in v and "coefficient" in v for v in stored["variables"])
    with pytest.raises(InvalidInput) as e:
        Scorecard.from_dict({**stored, "version": 99})
    assert e.value.code == "INVALID_MODEL"


def test_reasons_name_variables_that_cost_points(card: Scorecard, german: Any) -> None:
    _, _, te, _ = german
    scores = card.score(te)
    worst = int(np.argmin(scores))
    row = {k: (v[worst] if not isinstance(v, np.ndarray) else float(v[worst])) for k, v in te.items()}
    reasons = card.reasons(row, top=3)
    assert 1 <= len(reasons) <= 3
    table = card.points_table()
    for r in reasons:
        pts = [t["points_exact"] for t in table if t["variable"] == r["variable"]]
        assert r["lost"] > 0 and r["points"] < max(pts) and r["best_points"] == pytest.approx(max(pts))
    assert [r["lost"] for r in reasons] == sorted((r["lost"] for r in reasons), reverse=True)
    # lifting the top reason to its best bin raises the score by exactly the points it cost
    top = reasons[0]["variable"]
    b = card.binnings[top]
    best_bin = int(np.argmax(-card.coefficients[top] * np.array(b.woe)))
    lifted = dict(row)
    if b.kind == "categorical":
        lifted[top] = b.groups[best_bin][0]
    else:
        lifted[top] = b.cuts[best_bin - 1] if best_bin else -1e9
    one = {k: [v] for k, v in row.items()}
    gain = card.score({k: [v] for k, v in lifted.items()})[0] - card.score(one)[0]
    assert gain == pytest.approx(reasons[0]["lost"])
    # a frame gives one list per row; the best possible applicant has nothing to explain
    many = card.reasons(te, top=2)
    assert len(many) == 300 and all(len(r) <= 2 for r in many)


# -------------------------------------------------------------------------------------------------------
# Errors


def test_single_class_is_refused() -> None:
    frame, y = synthetic(200)
    with pytest.raises(SingleClass) as e:
        train(frame, np.ones(200, dtype=int))
    assert e.value.code == "SINGLE_CLASS" and "只有一个类别" in e.value.message
    assert isinstance(e.value, InsufficientData)


def test_too_little_data_is_refused() -> None:
    frame, y = synthetic(40)
    with pytest.raises(InsufficientData) as e:
        train(frame, y)
    assert e.value.code == "INSUFFICIENT_DATA"
    frame, y = synthetic(300)
    y = np.zeros(300, dtype=int)
    y[:5] = 1  # 300 rows but only 5 bads
    with pytest.raises(InsufficientData) as e:
        train(frame, y)
    assert e.value.code == "INSUFFICIENT_DATA"


def test_unknown_columns_and_bad_targets_are_refused() -> None:
    frame, y = synthetic(300)
    with pytest.raises(UnknownColumn) as e:
        train(frame, y, features=["income", "salary"])
    assert e.value.code == "UNKNOWN_COLUMN" and e.value.detail == {"columns": ["salary"]}
    with pytest.raises(UnknownColumn):
        train(frame, "default_flag")
    with pytest.raises(InvalidInput) as e:
        train(frame, np.where(y == 1, 2, 0))
    assert e.value.code == "INVALID_TARGET"
    with pytest.raises(InvalidInput) as e:
        train(frame, [*y[:-1], None])
    assert e.value.code == "INVALID_TARGET"
    card = train(frame, y)
    with pytest.raises(UnknownColumn):
        card.score({"income": frame["income"]})  # the model's other variables are missing
    with pytest.raises(InvalidInput) as e:
        train(frame, y, categorical=["region"], features=["income", "region"], eval_frame=frame)
    assert e.value.code == "INVALID_PARAMETER"


def test_no_variable_passing_selection_is_refused() -> None:
    rng = np.random.default_rng(11)
    frame = {"noise": rng.normal(0, 1, 500)}
    y = (rng.random(500) < 0.3).astype(int)
    with pytest.raises(NoVariableSelected) as e:
        train(frame, y, iv_min=0.5)
    assert e.value.code == "NO_VARIABLE_SELECTED"


def test_target_column_and_flipped_labels() -> None:
    frame, y = synthetic(1000)
    a = train({**frame, "y": y}, "y")
    b = train(frame, 1 - y, bad_label=0)
    assert np.array_equal(a.score(frame), b.score(frame))
    assert "y" not in a.variables
    iv = {s["variable"]: s["iv"] for s in a.selection}
    assert set(iv) == {"income", "debt", "region", "noise"} and min(iv, key=iv.get) == "noise"
    assert a.metrics["train"]["auc"] > 0.75
