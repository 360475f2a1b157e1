"""Scorecard benchmark: our pure-numpy scorecard against a peer library on the same German credit split.

    python bench/scorecard.py

Both are trained on the fixed 70 % of tests/credit/german.py and scored on its held-out 30 %. The peer is
toad (selection.select → Combiner chi-merge → WOETransformer → scikit-learn LogisticRegression), or
optbinning's BinningProcess + LogisticRegression when toad cannot be imported. Peers are bench-only
dependencies (bench/requirements.txt); without one the script exits non-zero rather than report a figure.
Ends with one line, then the difference:

    RESULT scorecard auc=… peer=toad|optbinning peer_auc=…
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.credit.german import TARGET, german_split  # noqa: E402

from xinyidai.credit.metrics import auc  # noqa: E402
from xinyidai.credit.scorecard import train  # noqa: E402


def ours(tr: dict[str, Any], ytr: np.ndarray, te: dict[str, Any],
         yte: np.ndarray) -> tuple[float, float, int]:
    started = time.perf_counter()
    card = train(tr, ytr)
    elapsed = time.perf_counter() - started
    return auc(yte, -card.score(te)), elapsed, len(card.variables)


def peer_toad(tr: dict[str, Any], ytr: np.ndarray, te: dict[str, Any],
              yte: np.ndarray) -> tuple[float, float, int]:
    import pandas as pd
    import toad
    from sklearn.linear_model import LogisticRegression

    train_df = pd.DataFrame(tr).assign(**{TARGET: ytr})
    test_df = pd.DataFrame(te)
    started = time.perf_counter()
    selected = toad.selection.select(train_df, target=TARGET, empty=0.5, iv=0.02, corr=0.7)
    combiner = toad.transform.Combiner()
    combiner.fit(selected, y=TARGET, method="chi", min_samples=0.05)
    woe = toad.transform.WOETransformer()
    x_train = woe.fit_transform(combiner.transform(selected), selected[TARGET], exclude=[TARGET])
    features = [c for c in x_train.columns if c != TARGET]
    model = LogisticRegression(max_iter=1000).fit(x_train[features], ytr)
    elapsed = time.perf_counter() - started
    x_test = woe.transform(combiner.transform(test_df[features]))
    return auc(yte, model.predict_proba(x_test[features])[:, 1]), elapsed, len(features)


def peer_optbinning(tr: dict[str, Any], ytr: np.ndarray, te: dict[str, Any],
                    yte: np.ndarray) -> tuple[float, float, int]:
    import pandas as pd
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression

    x_train, x_test = pd.DataFrame(tr), pd.DataFrame(te)
    started = time.perf_counter()
    process = BinningProcess(list(x_train.columns), min_prebin_size=0.05,
                             selection_criteria={"iv": {"min": 0.02}})
    woe_train = process.fit_transform(x_train, ytr)
    model = LogisticRegression(max_iter=1000).fit(woe_train, ytr)
    elapsed = time.perf_counter() - started
    return auc(yte, model.predict_proba(process.transform(x_test))[:, 1]), elapsed, woe_train.shape[1]


def main() -> None:
    tr, ytr, te, yte = german_split()
    print(f"German credit: train {ytr.size} rows ({int(ytr.sum())} bad), test {yte.size} rows "
          f"({int(yte.sum())} bad), {len(tr)} candidate variables", flush=True)
    our_auc, our_s, our_n = ours(tr, ytr, te, yte)
    print(f"ours:  {our_s * 1000:8.1f} ms, {our_n} variables, test AUC {our_auc:.4f}", flush=True)

    peer, run = None, None
    try:
        import toad  # noqa: F401
        peer, run = "toad", peer_toad
    except ImportError as exc:
        print(f"toad not importable ({exc}); trying optbinning", flush=True)
        try:
            import optbinning  # noqa: F401
            peer, run = "optbinning", peer_optbinning
        except ImportError as exc2:
            sys.exit(f"no peer library importable ({exc2}): pip install -r bench/requirements.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peers' deprecation chatter is not the benchmark's business
        peer_auc, peer_s, peer_n = run(tr, ytr, te, yte)
    print(f"{peer}: {peer_s * 1000:8.1f} ms, {peer_n} variables, test AUC {peer_auc:.4f}", flush=True)
    print(f"RESULT scorecard auc={our_auc:.4f} peer={peer} peer_auc={peer_auc:.4f}")
    print(f"difference ours − peer = {our_auc - peer_auc:+.4f} (must stay within ±0.02)")


if __name__ == "__main__":
    main()
