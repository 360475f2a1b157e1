"""A statistical credit scorecard: WOE binning, variable selection, logistic regression, points.

Conventions, fixed once so that stored models mean the same thing everywhere:

* target: 1 = bad (default, 违约), 0 = good. `bad_label=0` flips a 0/1 target that is coded the other way.
* WOE of a bin = ln(good share / bad share), each count smoothed by +0.5, so a safer bin has a larger WOE.
* The model is ln(odds_bad) = intercept + Σ coef_j · WOE_j; with this coding every coefficient should be
  negative, and a variable whose coefficient comes out ≥ 0 is dropped (stepwise) when `check_signs`.
* Score = offset − factor · ln(odds_bad), factor = PDO / ln 2, offset = base_score − factor · ln(base_odds),
  base_odds being good:bad. A higher score means lower risk; doubling the good:bad odds adds PDO points.
* Bins of a numeric variable are [c_i, c_i+1); missing values (None, NaN, "") always get a bin of their
  own when training saw any. A value training never saw a bin for (a missing value, or an unknown
  category with no "其他" bin to go to) takes the riskiest bin: unknown should never earn points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xinyidai.credit import metrics
from xinyidai.kit.errors import DomainError, InvalidInput

FORMAT = "xinyidai.scorecard"
FORMAT_VERSION = 1
MIN_ROWS = 50
MIN_PER_CLASS = 10
OTHER = "其他"
MISSING = "缺失"

Frame = Mapping[str, Sequence[Any] | np.ndarray]


# --------------------------------------------------------------------------------------------------------
# Errors


class InsufficientData(InvalidInput):
    code = "INSUFFICIENT_DATA"
    message = f"训练样本不足：至少需要 {MIN_ROWS} 行，且违约与正常样本各至少 {MIN_PER_CLASS} 行"


class SingleClass(InsufficientData):
    code = "SINGLE_CLASS"
    message = "训练样本只有一个类别（全部为违约或全部为正常），无法训练评分卡"


class UnknownColumn(InvalidInput):
    code = "UNKNOWN_COLUMN"
    message = "数据中没有所指定的列"


class InvalidTarget(InvalidInput):
    code = "INVALID_TARGET"
    message = "目标变量只能取 0 或 1（1 = 违约）"


class NoVariableSelected(InvalidInput):
    code = "NO_VARIABLE_SELECTED"
    message = "没有变量通过筛选（信息值过低或方向不符），无法建立评分卡"


class ModelNotConverged(DomainError):
    code = "NOT_CONVERGED"
    status = 422
    message = "逻辑回归未能收敛"


# --------------------------------------------------------------------------------------------------------
# Column handling


def _is_missing(v: Any) -> bool:
    if isinstance(v, str):
        return not v.strip()
    return v is None or (isinstance(v, float | np.floating) and math.isnan(v))


def _as_float(name: str, values: Sequence[Any] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(float).ravel()
    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values):
        if _is_missing(v):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise InvalidInput(f"数值变量 {name} 第 {i + 1} 行的值“{v}”不是数字", code="NOT_NUMERIC",
                               detail={"column": name, "row": i + 1, "value": str(v)}) from None
    return out


def _as_labels(values: Sequence[Any] | np.ndarray) -> list[str | None]:
    return [None if _is_missing(v) else str(v) for v in values]


def _looks_categorical(values: Sequence[Any] | np.ndarray) -> bool:
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind in "fiub":
        return False
    return any(isinstance(v, str) and v.strip() for v in values)


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.6g}"


# --------------------------------------------------------------------------------------------------------
# Binning


def _woe_iv(good: np.ndarray, bad: np.ndarray, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    k = good.size
    g = (good + smoothing) / (good.sum() + smoothing * k)
    b = (bad + smoothing) / (bad.sum() + smoothing * k)
    woe = np.log(g / b)
    return woe, (g - b) * woe


def _chi2(g1: float, b1: float, g2: float, b2: float) -> float:
    """Pearson χ² of the 2×2 table of two bins; 0 when a margin is empty (the bins do not differ)."""
    denom = (g1 + b1) * (g2 + b2) * (g1 + g2) * (b1 + b2)
    return 0.0 if denom == 0 else (g1 + b1 + g2 + b2) * (g1 * b2 - g2 * b1) ** 2 / denom


@dataclass
class _Bins:
    """Mutable working state while merging: per-bin counts, plus cut points (numeric) or members."""

    good: list[float]
    bad: list[float]
    cuts: list[float] = field(default_factory=list)  # numeric: len(good) - 1 inner cut points
    members: list[list[str]] = field(default_factory=list)  # categorical
    other: list[bool] = field(default_factory=list)  # categorical: the bin that takes rare/unseen values
    rare: set[str] = field(default_factory=set)  # categorical: categories too small to stand alone

    def merge(self, i: int, j: int) -> None:
        """Merges bin j into bin i (numeric: j = i + 1, the cut between them disappears)."""
        self.good[i] += self.good[j]
        self.bad[i] += self.bad[j]
        del self.good[j], self.bad[j]
        if self.cuts:
            del self.cuts[i]
        if self.members:
            self.members[i] = self.members[i] + self.members[j]
            self.other[i] = self.other[i] or self.other[j]
            del self.members[j], self.other[j]

    def chi2(self, i: int, j: int) -> float:
        return _chi2(self.good[i], self.bad[i], self.good[j], self.bad[j])

    def bad_rate(self, i: int) -> float:
        return self.bad[i] / max(self.good[i] + self.bad[i], 1e-12)

    def violates(self, i: int, min_count: float) -> bool:
        return self.good[i] + self.bad[i] < min_count or self.good[i] == 0 or self.bad[i] == 0

    def copy(self) -> _Bins:
        return _Bins(list(self.good), list(self.bad), list(self.cuts), [list(m) for m in self.members],
                     list(self.other), set(self.rare))


def _merge_adjacent_until(bins: _Bins, max_bins: int) -> None:
    """Chi-merge: joins the most similar neighbours until at most max_bins remain."""
    while len(bins.good) > max(max_bins, 1):
        i = min(range(len(bins.good) - 1), key=lambda k: bins.chi2(k, k + 1))
        bins.merge(i, i + 1)


def _fix_small_numeric(bins: _Bins, min_count: float) -> None:
    """Every bin must be big enough and hold both goods and bads; the worst offender goes to whichever
    neighbour it differs from least."""
    while len(bins.good) > 1:
        bad_bins = [i for i in range(len(bins.good)) if bins.violates(i, min_count)]
        if not bad_bins:
            return
        i = min(bad_bins, key=lambda k: (bins.good[k] + bins.bad[k], k))
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(bins.good)]
        j = min(neighbours, key=lambda k: bins.chi2(i, k))
        bins.merge(min(i, j), max(i, j))


def _make_monotone(bins: _Bins, direction: int, smoothing: float) -> None:
    """Merges the most similar out-of-order neighbours until WOE rises (direction 1) or falls (-1)
    strictly with the bin index. Merging two ordered neighbours keeps the order, so this terminates."""
    while len(bins.good) > 1:
        woe, _ = _woe_iv(np.array(bins.good), np.array(bins.bad), smoothing)
        wrong = [i for i in range(len(woe) - 1) if direction * (woe[i + 1] - woe[i]) <= 0]
        if not wrong:
            return
        i = min(wrong, key=lambda k: bins.chi2(k, k + 1))
        bins.merge(i, i + 1)


def _fine_cuts(x: np.ndarray, n_fine: int) -> list[float]:
    """Initial fine classing: quantile cut points that are data values, so no fine bin is empty."""
    distinct = np.unique(x)
    if distinct.size <= n_fine:
        return [float(v) for v in distinct[1:]]
    q = np.quantile(x, np.arange(1, n_fine) / n_fine, method="higher")
    return [float(v) for v in np.unique(q) if v > distinct[0]]


@dataclass
class Binning:
    """The bins of one variable and their WOE. Bins are listed in order; the missing bin, if any, is last.

    numeric: `cuts` are the inner cut points, bin i is [cuts[i-1], cuts[i]).
    categorical: `groups[i]` lists the categories of bin i; `other_bin` takes rare and unseen categories.
    """

    variable: str
    kind: str  # "numeric" | "categorical"
    labels: list[str]
    good: list[int]
    bad: list[int]
    woe: list[float]
    iv_parts: list[float]
    cuts: list[float] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    other_bin: int | None = None
    missing_bin: int | None = None
    smoothing: float = 0.5

    @property
    def n_bins(self) -> int:
        return len(self.labels)

    @property
    def iv(self) -> float:
        return float(sum(self.iv_parts))

    @property
    def fallback_bin(self) -> int:
        """Where values go that training gave no bin to: the riskiest (lowest WOE) bin."""
        return int(np.argmin(self.woe))

    def bin_index(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        if self.kind == "numeric":
            x = _as_float(self.variable, values)
            missing = np.isnan(x)
            idx = np.searchsorted(np.asarray(self.cuts, dtype=float), np.where(missing, 0.0, x), side="right")
            return np.where(missing, self.fallback_bin if self.missing_bin is None else self.missing_bin, idx)
        lookup = {c: i for i, g in enumerate(self.groups) for c in g}
        unseen = self.fallback_bin if self.other_bin is None else self.other_bin
        missing = self.fallback_bin if self.missing_bin is None else self.missing_bin
        labels = _as_labels(values)
        return np.array([missing if v is None else lookup.get(v, unseen) for v in labels], dtype=int)

    def transform(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        """WOE of each value."""
        return np.asarray(self.woe, dtype=float)[self.bin_index(values)]

    def table(self) -> list[dict[str, Any]]:
        total = sum(self.good) + sum(self.bad)
        rows = []
        for i, label in enumerate(self.labels):
            n = self.good[i] + self.bad[i]
            cats = list(self.groups[i]) if self.kind == "categorical" and i < len(self.groups) else None
            rows.append({"variable": self.variable, "bin": i, "label": label, "categories": cats,
                         "count": n, "count_share": n / total if total else 0.0, "good": self.good[i],
                         "bad": self.bad[i], "bad_rate": self.bad[i] / n if n else 0.0, "woe": self.woe[i],
                         "iv": self.iv_parts[i]})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "kind": self.kind, "labels": list(self.labels),
                "good": list(self.good), "bad": list(self.bad), "woe": list(self.woe),
                "iv_parts": list(self.iv_parts), "cuts": list(self.cuts),
                "groups": [list(g) for g in self.groups],
                "other_bin": self.other_bin, "missing_bin": self.missing_bin, "smoothing": self.smoothing,
                "iv": self.iv}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Binning:
        try:
            b = cls(variable=str(d["variable"]), kind=str(d["kind"]), labels=[str(s) for s in d["labels"]],
                    good=[int(v) for v in d["good"]], bad=[int(v) for v in d["bad"]],
                    woe=[float(v) for v in d["woe"]], iv_parts=[float(v) for v in d["iv_parts"]],
                    cuts=[float(v) for v in d.get("cuts", [])],
                    groups=[[str(c) for c in g] for g in d.get("groups", [])],
                    other_bin=d.get("other_bin"), missing_bin=d.get("missing_bin"),
                    smoothing=float(d.get("smoothing", 0.5)))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"分箱定义不完整：{exc}", code="INVALID_MODEL") from None
        if b.kind not in ("numeric", "categorical") or len({len(b.labels), len(b.woe), len(b.good)}) != 1:
            raise InvalidInput(f"变量 {b.variable} 的分箱定义不一致", code="INVALID_MODEL")
        return b


def _finish(variable: str, kind: str, bins: _Bins, missing: tuple[int, int] | None,
            smoothing: float) -> Binning:
    good, bad = list(bins.good), list(bins.bad)
    if kind == "numeric":
        edges = [_fmt(c) for c in bins.cuts]
        if not bins.good:  # every value missing: the missing bin is all there is
            labels = []
        elif not edges:
            labels = ["全部"]
        else:
            labels = [f"(-∞, {edges[0]})"] + [f"[{a}, {b})" for a, b in zip(edges, edges[1:], strict=False)]
            labels.append(f"[{edges[-1]}, +∞)")
    else:
        # A big category can absorb the rare ones; its label still names it and lists the rest as 其他.
        labels = []
        for members in bins.members:
            rare = [m for m in members if m in bins.rare]
            parts = [m for m in members if m not in bins.rare]
            if rare:
                parts.append(f"{OTHER}（{'、'.join(rare)}）")
            labels.append("、".join(parts))
    missing_bin = None
    if missing is not None:
        missing_bin = len(good)
        labels.append(MISSING)
        good.append(missing[0])
        bad.append(missing[1])
    woe, iv = _woe_iv(np.array(good, dtype=float), np.array(bad, dtype=float), smoothing)
    other = next((i for i, o in enumerate(bins.other) if o), None) if kind == "categorical" else None
    return Binning(variable=variable, kind=kind, labels=labels, good=[int(v) for v in good],
                   bad=[int(v) for v in bad], woe=[float(v) for v in woe], iv_parts=[float(v) for v in iv],
                   cuts=list(bins.cuts), groups=[list(m) for m in bins.members], other_bin=other,
                   missing_bin=missing_bin, smoothing=smoothing)


def bin_variable(variable: str, values: Sequence[Any] | np.ndarray, y: Sequence[int] | np.ndarray, *,
                 categorical: bool | None = None, n_fine: int = 20, min_bin_frac: float = 0.05,
                 max_bins: int = 5, max_cat_bins: int | None = 6, monotonic: bool = True,
                 smoothing: float = 0.5) -> Binning:
    """Bins one variable against a 0/1 target (1 = bad). `categorical=None` guesses from the values
    (any non-empty string → categorical).

    numeric: `n_fine` quantile bins, then chi-merge of neighbours until every bin holds min_bin_frac of
    the rows and both classes, WOE is monotone (`monotonic`: both directions tried, higher IV kept) and at
    most `max_bins` remain. categorical: a bin per category, categories under min_bin_frac pooled into
    其他, then groups merged by closest bad rate down to `max_cat_bins` (None: no limit).
    """
    yy = np.asarray(y, dtype=float).ravel()
    if len(values) != yy.size:
        raise InvalidInput(f"变量 {variable} 的长度与目标变量不一致", code="LENGTH_MISMATCH")
    if yy.size == 0:
        raise InsufficientData(f"变量 {variable} 没有样本，无法分箱")
    if categorical is None:
        categorical = _looks_categorical(values)
    min_count = min_bin_frac * yy.size
    if categorical:
        return _bin_categorical(variable, _as_labels(values), yy, min_count, max_cat_bins, smoothing)
    x = _as_float(variable, values)
    miss = np.isnan(x)
    missing = (int((1 - yy[miss]).sum()), int(yy[miss].sum())) if miss.any() else None
    x, yx = x[~miss], yy[~miss]
    if x.size == 0:
        return _finish(variable, "numeric", _Bins([], []), missing, smoothing)
    cuts = _fine_cuts(x, n_fine)
    idx = np.searchsorted(np.asarray(cuts), x, side="right")
    bins = _Bins(list(np.bincount(idx, weights=1 - yx, minlength=len(cuts) + 1)),
                 list(np.bincount(idx, weights=yx, minlength=len(cuts) + 1)), cuts)
    _fix_small_numeric(bins, min_count)
    candidates = [bins]
    if monotonic:
        candidates = []
        for direction in (1, -1):
            trial = bins.copy()
            _make_monotone(trial, direction, smoothing)
            candidates.append(trial)
    best: Binning | None = None
    for trial in candidates:
        _merge_adjacent_until(trial, max_bins)
        done = _finish(variable, "numeric", trial, missing, smoothing)
        if best is None or done.iv > best.iv:
            best = done
    assert best is not None
    return best


def _bin_categorical(variable: str, labels: list[str | None], y: np.ndarray, min_count: float,
                     max_bins: int | None, smoothing: float) -> Binning:
    present = [i for i, v in enumerate(labels) if v is not None]
    miss_idx = [i for i, v in enumerate(labels) if v is None]
    missing = (int((1 - y[miss_idx]).sum()), int(y[miss_idx].sum())) if miss_idx else None
    cats, inverse = np.unique(np.array([labels[i] for i in present], dtype=object).astype(str),
                              return_inverse=True) if present else (np.array([]), np.array([], dtype=int))
    yp = y[present]
    good = np.bincount(inverse, weights=1 - yp, minlength=cats.size)
    bad = np.bincount(inverse, weights=yp, minlength=cats.size)
    bins = _Bins([], [])
    rare = _Bins([0.0], [0.0], members=[[]], other=[True])
    for c, g, b in zip(cats, good, bad, strict=True):
        target = rare if g + b < min_count else bins
        if target is rare:
            rare.good[0] += g
            rare.bad[0] += b
            rare.members[0].append(str(c))
            bins.rare.add(str(c))
        else:
            bins.good.append(float(g))
            bins.bad.append(float(b))
            bins.members.append([str(c)])
            bins.other.append(False)
    if rare.members[0]:
        bins.good.append(rare.good[0])
        bins.bad.append(rare.bad[0])
        bins.members.append(rare.members[0])
        bins.other.append(True)
    # Too small or one-class groups (the 其他 bin included) join the group with the closest bad rate.
    while len(bins.good) > 1:
        offenders = [i for i in range(len(bins.good)) if bins.violates(i, min_count)]
        if not offenders:
            break
        i = min(offenders, key=lambda k: (bins.good[k] + bins.bad[k], k))
        j = min((k for k in range(len(bins.good)) if k != i), key=lambda k: bins.chi2(i, k))
        bins.merge(min(i, j), max(i, j))
    _sort_by_bad_rate(bins)
    if max_bins is not None:
        _merge_adjacent_until(bins, max_bins)
    return _finish(variable, "categorical", bins, missing, smoothing)


def _sort_by_bad_rate(bins: _Bins) -> None:
    order = sorted(range(len(bins.good)), key=lambda i: (bins.bad_rate(i), i))
    bins.good = [bins.good[i] for i in order]
    bins.bad = [bins.bad[i] for i in order]
    bins.members = [bins.members[i] for i in order]
    bins.other = [bins.other[i] for i in order]


# --------------------------------------------------------------------------------------------------------
# Logistic regression


@dataclass(frozen=True)
class LogisticFit:
    intercept: float
    coef: np.ndarray
    std_errors: np.ndarray  # intercept first, from the penalised Hessian
    iterations: int


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, max_iter: int = 100,
                 tol: float = 1e-8) -> LogisticFit:
    """P(y = 1) = sigmoid(intercept + x·coef) by Newton–Raphson (IRLS) with step halving, minimising
    the negative log-likelihood + l2/2·‖coef‖² (the intercept is not penalised; l2 = 1 matches
    scikit-learn's default C = 1)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    if x.ndim != 2 or x.shape[0] != y.size:
        raise InvalidInput("自变量矩阵与目标变量的行数不一致", code="LENGTH_MISMATCH")
    n_bad = y.sum()
    if n_bad == 0 or n_bad == y.size:
        raise SingleClass()
    a = np.column_stack([np.ones(y.size), x])
    pen = np.full(a.shape[1], float(l2))
    pen[0] = 0.0
    beta = np.zeros(a.shape[1])
    beta[0] = math.log(n_bad / (y.size - n_bad))

    def objective(b: np.ndarray) -> float:
        eta = a @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(pen * b * b))

    f = objective(beta)
    for it in range(1, max_iter + 1):
        p = np.exp(-np.logaddexp(0.0, -(a @ beta)))  # sigmoid without overflow
        grad = a.T @ (p - y) + pen * beta
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(pen) + 1e-10 * np.eye(a.shape[1])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            raise ModelNotConverged("逻辑回归的信息矩阵奇异（变量完全共线），请提高 l2 或删去重复变量") from None
        t = 1.0
        while True:  # halve until the objective does not get worse (guards against overshooting)
            candidate = beta - t * step
            f_new = objective(candidate)
            if f_new <= f + 1e-12 * abs(f) or t < 1e-10:
                break
            t /= 2
        moved = float(np.max(np.abs(candidate - beta)))
        beta, f = candidate, f_new
        if moved < tol * (1.0 + float(np.max(np.abs(beta)))):
            cov = np.linalg.inv(hess)
            return LogisticFit(float(beta[0]), beta[1:].copy(), np.sqrt(np.clip(np.diag(cov), 0, None)), it)
    raise ModelNotConverged(f"逻辑回归在 {max_iter} 次迭代内未收敛", detail={"max_iter": max_iter})


# --------------------------------------------------------------------------------------------------------
# Scaling


@dataclass(frozen=True)
class Scaling:
    base_score: float = 600.0
    base_odds: float = 50.0  # good:bad odds that earn base_score
    pdo: float = 20.0  # points to double the good:bad odds

    def __post_init__(self) -> None:
        if not (self.pdo > 0 and self.base_odds > 0 and math.isfinite(self.base_score)):
            raise InvalidInput("评分刻度参数无效：PDO 与基准好坏比必须为正数", code="INVALID_PARAMETER")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, log_odds_bad: Any) -> Any:
        return self.offset - self.factor * np.asarray(log_odds_bad, dtype=float)

    def to_dict(self) -> dict[str, float]:
        return {"base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo}


# --------------------------------------------------------------------------------------------------------
# The scorecard


@dataclass
class Scorecard:
    binnings: dict[str, Binning]  # selected variables, in model order
    coefficients: dict[str, float]
    intercept: float
    scaling: Scaling
    selection: list[dict[str, Any]] = field(default_factory=list)  # every candidate and why it stayed/went
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def variables(self) -> list[str]:
        return list(self.binnings)

    def _woe_matrix(self, frame: Frame) -> np.ndarray:
        n = _frame_rows(frame, self.variables)
        return np.column_stack([self.binnings[v].transform(frame[v]) for v in self.variables]) \
            if self.variables else np.zeros((n, 0))

    def log_odds_bad(self, frame: Frame) -> np.ndarray:
        coef = np.array([self.coefficients[v] for v in self.variables])
        return self.intercept + self._woe_matrix(frame) @ coef

    def predict_proba(self, frame: Frame) -> np.ndarray:
        """P(bad) per row."""
        return np.exp(-np.logaddexp(0.0, -self.log_odds_bad(frame)))

    def score(self, frame: Frame, *, rounded: bool = False) -> np.ndarray:
        """Float scores (what metrics use); `rounded=True` gives the sum of the integer points table."""
        if not rounded:
            return self.scaling.score(self.log_odds_bad(frame))
        total = np.full(_frame_rows(frame, self.variables), float(round(self._base_points())))
        for v in self.variables:
            total += np.round(self._bin_points(v))[self.binnings[v].bin_index(frame[v])]
        return total

    def _base_points(self) -> float:
        return float(self.scaling.score(self.intercept))

    def _bin_points(self, variable: str) -> np.ndarray:
        return -self.scaling.factor * self.coefficients[variable] * np.asarray(self.binnings[variable].woe)

    def points_table(self) -> list[dict[str, Any]]:
        """One row per variable and bin; the score is 基础分 plus one bin's points per variable."""
        rows: list[dict[str, Any]] = [{"variable": "基础分", "bin": None, "label": "", "points": round(
            self._base_points()), "points_exact": self._base_points(), "woe": None, "count": None,
            "bad_rate": None}]
        for v in self.variables:
            pts = self._bin_points(v)
            for row, p in zip(self.binnings[v].table(), pts, strict=True):
                rows.append({"variable": v, "bin": row["bin"], "label": row["label"], "points": int(round(p)),
                             "points_exact": float(p), "woe": row["woe"], "count": row["count"],
                             "bad_rate": row["bad_rate"]})
        return rows

    def reasons(self, row_or_frame: Mapping[str, Any], top: int = 3) -> list[Any]:
        """Reason codes: per row, the variables that cost the most points against that variable's best bin
        (only those that cost any). A single row (scalar values) gives one list, a frame a list per row."""
        single = all(_is_scalar(v) for v in row_or_frame.values())
        frame = {k: [v] for k, v in row_or_frame.items()} if single else row_or_frame
        n = _frame_rows(frame, self.variables)
        lost = np.zeros((n, len(self.variables)))
        got = np.zeros_like(lost)
        idx = np.zeros((n, len(self.variables)), dtype=int)
        for j, v in enumerate(self.variables):
            pts = self._bin_points(v)
            idx[:, j] = self.binnings[v].bin_index(frame[v])
            got[:, j] = pts[idx[:, j]]
            lost[:, j] = pts.max() - got[:, j]
        out = []
        for r in range(n):
            order = [j for j in np.argsort(-lost[r], kind="stable") if lost[r, j] > 1e-9][:top]
            out.append([{"variable": self.variables[j],
                         "label": self.binnings[self.variables[j]].labels[idx[r, j]],
                         "points": float(got[r, j]), "best_points": float(got[r, j] + lost[r, j]),
                         "lost": float(lost[r, j])} for j in order])
        return out[0] if single else out

    def evaluate(self, frame: Frame, target: Sequence[Any] | np.ndarray | str, *,
                 bad_label: int = 1) -> dict[str, Any]:
        """Rows, bad rate, AUC, KS and Gini of this card on a labelled sample."""
        y = _target(frame, target, bad_label)
        return _evaluate(y, self.score(frame))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, "convention": "target 1 = bad; "
                "WOE = ln(good share / bad share); ln(odds_bad) = intercept + Σ coef·WOE; "
                "score = offset − factor·ln(odds_bad)",
                "intercept": self.intercept, "scaling": self.scaling.to_dict(),
                "variables": [{"name": v, "iv": self.binnings[v].iv, "coefficient": self.coefficients[v],
                               "binning": self.binnings[v].to_dict()} for v in self.variables],
                "selection": self.selection, "metrics": self.metrics, "params": self.params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scorecard:
        if d.get("format") != FORMAT or d.get("version") != FORMAT_VERSION:
            raise InvalidInput("不是本系统可识别的评分卡模型（格式或版本不符）", code="INVALID_MODEL",
                               detail={"format": d.get("format"), "version": d.get("version")})
        try:
            binnings = {str(v["name"]): Binning.from_dict(v["binning"]) for v in d["variables"]}
            coefs = {str(v["name"]): float(v["coefficient"]) for v in d["variables"]}
            return cls(binnings=binnings, coefficients=coefs, intercept=float(d["intercept"]),
                       scaling=Scaling(**{k: float(v) for k, v in d["scaling"].items()}),
                       selection=list(d.get("selection", [])), metrics=dict(d.get("metrics", {})),
                       params=dict(d.get("params", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"评分卡模型不完整：{exc}", code="INVALID_MODEL") from None


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | np.generic)


def _frame_rows(frame: Frame, columns: Iterable[str]) -> int:
    """Row count of the named columns, which must exist and agree in length."""
    columns = list(columns)
    absent = [c for c in columns if c not in frame]
    if absent:
        raise UnknownColumn(f"数据中缺少列：{'、'.join(absent)}", detail={"columns": absent})
    lengths = {c: len(frame[c]) for c in columns} or {k: len(v) for k, v in frame.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInput("各列长度不一致", code="LENGTH_MISMATCH", detail=lengths)
    return next(iter(lengths.values()), 0)


def _target(frame: Frame, target: Sequence[Any] | np.ndarray | str, bad_label: int) -> np.ndarray:
    if isinstance(target, str):
        if target not in frame:
            raise UnknownColumn(f"数据中没有目标变量列 {target}", detail={"columns": [target]})
        target = frame[target]
    if bad_label not in (0, 1):
        raise InvalidTarget("bad_label 只能为 0 或 1")
    arr = np.asarray(target)
    if arr.dtype.kind in "iufb" and arr.ndim == 1 and np.isin(arr, (0, 1)).all():
        y = arr.astype(float)
        return y if bad_label == 1 else 1.0 - y
    values = list(target)
    y = np.empty(len(values))
    for i, v in enumerate(values):
        if isinstance(v, bool | np.bool_) or (isinstance(v, int | float | np.number) and v in (0, 1)):
            y[i] = float(v)
        else:
            raise InvalidTarget(f"目标变量第 {i + 1} 行的值“{v}”不是 0 或 1（1 = 违约）", detail={"row": i + 1})
    return y if bad_label == 1 else 1.0 - y


def _evaluate(y: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    n_bad = int(y.sum())
    out: dict[str, Any] = {"rows": int(y.size), "bads": n_bad, "bad_rate": n_bad / y.size if y.size else 0.0}
    if 0 < n_bad < y.size:
        a = metrics.auc(y, -score)  # higher score = safer, AUC is for predicting bad
        out.update(auc=a, gini=2 * a - 1, ks=metrics.ks(y, score))
    return out


def _check_training_target(y: np.ndarray) -> None:
    n_bad = int(y.sum())
    if n_bad == 0 or n_bad == y.size:
        raise SingleClass(detail={"rows": int(y.size), "bads": n_bad})
    if y.size < MIN_ROWS or min(n_bad, y.size - n_bad) < MIN_PER_CLASS:
        raise InsufficientData(detail={"rows": int(y.size), "bads": n_bad, "goods": int(y.size) - n_bad,
                                       "min_rows": MIN_ROWS, "min_per_class": MIN_PER_CLASS})


def train(frame: Frame, target: Sequence[Any] | np.ndarray | str, *, categorical: Iterable[str] | None = None,
          features: Iterable[str] | None = None, eval_frame: Frame | None = None,
          eval_target: Sequence[Any] | np.ndarray | str | None = None, bad_label: int = 1,
          n_fine: int = 20, min_bin_frac: float = 0.05, max_bins: int = 5, max_cat_bins: int | None = 6,
          monotonic: bool = True, smoothing: float = 0.5, iv_min: float = 0.02, corr_max: float = 0.7,
          check_signs: bool = True, l2: float = 1.0, max_iter: int = 100, base_score: float = 600.0,
          base_odds: float = 50.0, pdo: float = 20.0) -> Scorecard:
    """Trains a scorecard. `target` is a column of `frame` or a sequence of 0/1 (1 = bad unless bad_label=0).

    `categorical` names the categorical columns (then every other feature must be numeric); when None,
    columns holding strings are taken as categorical. `features` defaults to every column but the target.
    `eval_frame`/`eval_target` is a held-out sample whose metrics are stored as metrics["test"].
    Binning parameters are those of `bin_variable`. Selection: IV ≥ iv_min, then of each pair of WOE
    columns with |r| > corr_max the lower-IV one goes, then (`check_signs`) wrong-signed variables are
    dropped one at a time, weakest first, refitting each time. `l2` is the ridge penalty of the regression;
    base_score / base_odds (good:bad) / pdo set the points scale.
    """
    scaling = Scaling(base_score, base_odds, pdo)
    y = _target(frame, target, bad_label)
    target_col = target if isinstance(target, str) else None
    names = list(features) if features is not None else [c for c in frame if c != target_col]
    cat_names = None if categorical is None else list(categorical)
    unknown = [c for c in names + (cat_names or []) if c not in frame]
    if unknown:
        raise UnknownColumn(f"数据中没有这些列：{'、'.join(unknown)}", detail={"columns": unknown})
    if target_col in names:
        raise InvalidInput("目标变量不能同时作为自变量", code="INVALID_PARAMETER")
    n = _frame_rows(frame, names)
    if n != y.size:
        raise InvalidInput(f"目标变量有 {y.size} 行，数据有 {n} 行", code="LENGTH_MISMATCH")
    _check_training_target(y)

    binnings: dict[str, Binning] = {}
    for c in names:
        is_cat = c in cat_names if cat_names is not None else None
        binnings[c] = bin_variable(c, frame[c], y, categorical=is_cat, n_fine=n_fine,
                                   min_bin_frac=min_bin_frac,
                                   max_bins=max_bins, max_cat_bins=max_cat_bins, monotonic=monotonic,
                                   smoothing=smoothing)
    selection = {c: {"variable": c, "iv": binnings[c].iv, "selected": False, "reason": ""} for c in names}

    kept = sorted((c for c in names if binnings[c].iv >= iv_min), key=lambda c: -binnings[c].iv)
    for c in names:
        if c not in kept:
            selection[c]["reason"] = f"信息值 {binnings[c].iv:.4f} 低于 {iv_min}"
    woe = {c: binnings[c].transform(frame[c]) for c in kept}

    # Of each highly correlated pair, the one with the higher IV stays (kept is in descending IV order).
    chosen: list[str] = []
    for c in kept:
        clash = next((k for k in chosen if abs(_corr(woe[c], woe[k])) > corr_max), None)
        if clash is None:
            chosen.append(c)
        else:
            selection[c]["reason"] = f"与 {clash} 的 WOE 相关系数绝对值超过 {corr_max}"

    while True:
        if not chosen:
            raise NoVariableSelected(detail={"iv": {c: binnings[c].iv for c in names}, "iv_min": iv_min})
        fit = fit_logistic(np.column_stack([woe[c] for c in chosen]), y, l2=l2, max_iter=max_iter)
        wrong = [c for c, b in zip(chosen, fit.coef, strict=True) if b >= 0]
        if not check_signs or not wrong:
            break
        # The weakest wrong-signed variable is usually the one whose effect another variable already carries.
        drop = min(wrong, key=lambda c: binnings[c].iv)
        selection[drop]["reason"] = "回归系数方向与 WOE 编码不符（应为负）"
        chosen.remove(drop)

    for c, b, se in zip(chosen, fit.coef, fit.std_errors[1:], strict=True):
        selection[c].update(selected=True, reason="入选", coefficient=float(b), std_error=float(se))
    card = Scorecard(binnings={c: binnings[c] for c in chosen},
                     coefficients={c: float(b) for c, b in zip(chosen, fit.coef, strict=True)},
                     intercept=fit.intercept, scaling=scaling, selection=list(selection.values()),
                     params={"bad_label": bad_label, "n_fine": n_fine, "min_bin_frac": min_bin_frac,
                             "max_bins": max_bins, "max_cat_bins": max_cat_bins, "monotonic": monotonic,
                             "smoothing": smoothing, "iv_min": iv_min, "corr_max": corr_max,
                             "check_signs": check_signs, "l2": l2, "iterations": fit.iterations})
    card.metrics["train"] = _evaluate(y, card.score(frame))
    if eval_frame is not None:
        if eval_target is None:
            raise InvalidInput("提供了检验样本却没有提供其目标变量", code="INVALID_PARAMETER")
        card.metrics["test"] = card.evaluate(eval_frame, eval_target, bad_label=bad_label)
    return card


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def psi_by_variable(card: Scorecard, expected: Frame, actual: Frame, *,
                    smoothing: float = 0.5) -> dict[str, float]:
    """PSI of each model variable over its scorecard bins (see `metrics.psi_by_variable`)."""
    return metrics.psi_by_variable(card.binnings, expected, actual, smoothing=smoothing)
