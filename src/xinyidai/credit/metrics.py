"""Discrimination and stability measures for credit scores, in plain numpy.

Direction: `auc` and `ks` follow the usual ROC convention — `score` is a *risk* score, a higher value meaning
more likely bad (y = 1). Scorecard points run the other way (a higher score is safer), so evaluate a
scorecard with `auc(y, -points)`; `Scorecard` does this itself. `ks` is symmetric, so its sign is moot.
Ties are handled exactly: tied scores count half in the AUC (Mann–Whitney with mid-ranks) and the KS
curve is only read at distinct score values, so a tie can never be split in favour of either class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from xinyidai.kit.errors import InvalidInput


def _labels_and_scores(y: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    yy = np.asarray(y, dtype=float).ravel()
    ss = np.asarray(score, dtype=float).ravel()
    if yy.shape != ss.shape:
        raise InvalidInput(f"标签与分数长度不一致（{yy.size} 与 {ss.size}）", code="LENGTH_MISMATCH")
    if not np.isin(yy, (0.0, 1.0)).all():
        raise InvalidInput("标签只能是 0（正常）或 1（违约）", code="INVALID_TARGET")
    if np.isnan(ss).any():
        raise InvalidInput("分数中有缺失值，无法计算区分度指标", code="INVALID_SCORE")
    n_bad = int(yy.sum())
    if n_bad == 0 or n_bad == yy.size:
        raise InvalidInput("样本只有一个类别，无法计算区分度指标", code="SINGLE_CLASS")
    return yy, ss


def auc(y: Any, score: Any) -> float:
    """Area under the ROC curve of `score` as a predictor of y = 1 (bad): P(score_bad > score_good) plus
    half of P(tie). For scorecard points (higher = safer) pass `-points`."""
    yy, ss = _labels_and_scores(y, score)
    _, inverse, counts = np.unique(ss, return_inverse=True, return_counts=True)
    # Mid-rank of each distinct value: ranks before it, plus the mean of the ranks its ties share.
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = mid_rank[inverse]
    n1 = yy.sum()
    n0 = yy.size - n1
    return float((ranks[yy == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def ks(y: Any, score: Any) -> float:
    """Kolmogorov–Smirnov statistic: the largest gap between the cumulative shares of bads and goods."""
    yy, ss = _labels_and_scores(y, score)
    _, inverse = np.unique(ss, return_inverse=True)
    bad = np.bincount(inverse, weights=yy)
    good = np.bincount(inverse, weights=1.0 - yy)
    return float(np.max(np.abs(np.cumsum(bad) / bad.sum() - np.cumsum(good) / good.sum())))


def gini(y: Any, score: Any) -> float:
    """Accuracy ratio (Gini coefficient) = 2·AUC − 1, same direction as `auc`."""
    return 2.0 * auc(y, score) - 1.0


def psi_from_counts(expected: Any, actual: Any, *, smoothing: float = 0.5) -> float:
    """Population stability index Σ (a − e)·ln(a / e) over bin shares. `smoothing` is added to every bin's
    count so that an empty bin gives a large but finite term instead of infinity; 0 is the textbook PSI."""
    e = np.asarray(expected, dtype=float) + smoothing
    a = np.asarray(actual, dtype=float) + smoothing
    if e.shape != a.shape or e.ndim != 1 or e.size == 0:
        raise InvalidInput("两组分箱计数的长度必须一致且不为空", code="LENGTH_MISMATCH")
    if e.sum() <= 0 or a.sum() <= 0:
        raise InvalidInput("计算 PSI 的样本为空", code="INSUFFICIENT_DATA")
    e, a = e / e.sum(), a / a.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(a == e, 0.0, (a - e) * np.log(a / e))
    return float(terms.sum())


def psi(expected_values: Any, actual_values: Any, bins: int | Sequence[float] = 10, *,
        smoothing: float = 0.5) -> float:
    """PSI of a numeric variable (or of scores). `bins` is either a number of quantile bins taken from the
    expected (baseline) sample, or the cut points to use; a bin is [c_i, c_i+1). Missing values (NaN)
    form a bin of their own, so a rise in missing data shows up as instability."""
    exp = np.asarray(expected_values, dtype=float).ravel()
    act = np.asarray(actual_values, dtype=float).ravel()
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise InvalidInput("分箱数至少为 1", code="INVALID_PARAMETER")
        finite = exp[~np.isnan(exp)]
        if finite.size == 0:
            raise InvalidInput("基准样本没有非缺失值，无法按分位数分箱", code="INSUFFICIENT_DATA")
        cuts = np.unique(np.quantile(finite, np.arange(1, bins) / bins))
    else:
        cuts = np.unique(np.asarray(bins, dtype=float))
        cuts = cuts[np.isfinite(cuts)]  # ±inf ends add nothing: the outer bins are open anyway

    def counts(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        idx = np.searchsorted(cuts, values[~missing], side="right")
        return np.append(np.bincount(idx, minlength=cuts.size + 1), missing.sum())

    ce, ca = counts(exp), counts(act)
    if ce[-1] == 0 and ca[-1] == 0:  # no missing anywhere: do not let smoothing invent a bin
        ce, ca = ce[:-1], ca[:-1]
    return psi_from_counts(ce, ca, smoothing=smoothing)


class BinnedVariable(Protocol):
    """What `psi_by_variable` needs of a binning (`scorecard.Binning` is one)."""

    @property
    def n_bins(self) -> int: ...

    def bin_index(self, values: Sequence[Any] | np.ndarray) -> np.ndarray: ...


def psi_by_variable(binnings: Mapping[str, BinnedVariable], expected: Mapping[str, Any],
                    actual: Mapping[str, Any], *, smoothing: float = 0.5) -> dict[str, float]:
    """PSI per variable over the model's own bins — the bins the points are attached to, which is what a
    shift in population actually moves."""
    out: dict[str, float] = {}
    for name, binning in binnings.items():
        for frame, which in ((expected, "基准"), (actual, "对比")):
            if name not in frame:
                raise InvalidInput(f"{which}数据中缺少变量 {name}", code="MISSING_COLUMN", detail={"column": name})
        ce = np.bincount(binning.bin_index(expected[name]), minlength=binning.n_bins)
        ca = np.bincount(binning.bin_index(actual[name]), minlength=binning.n_bins)
        out[name] = psi_from_counts(ce, ca, smoothing=smoothing)
    return out
