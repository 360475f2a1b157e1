"""The German credit data (tests/data/german_credit.csv, see its ATTRIBUTION.md) and its one fixed split.

The split is part of the test contract: stratified by target, 70 % train / 30 % held out, drawn once from
numpy's default_rng(2026). Change it and every reported figure changes with it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data" / "german_credit.csv"
TARGET = "creditability"
SEED = 2026
TRAIN_FRAC = 0.7


def load_german(path: Path | str = DATA) -> tuple[dict[str, Any], np.ndarray]:
    """(frame, target): columns whose every value is a number become float arrays, the rest stay lists of
    strings (categorical); target is 1 for "bad", 0 for "good"."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    labels = [r[TARGET] for r in rows]
    if set(labels) != {"good", "bad"}:
        raise ValueError(f"unexpected {TARGET} values: {sorted(set(labels))}")
    frame: dict[str, Any] = {}
    for col in rows[0]:
        if col == TARGET:
            continue
        values = [r[col] for r in rows]
        try:
            frame[col] = np.array([float(v) for v in values])
        except ValueError:
            frame[col] = values
    return frame, np.array([1 if v == "bad" else 0 for v in labels])


def split(frame: dict[str, Any], target: np.ndarray, seed: int = SEED,
          train_frac: float = TRAIN_FRAC) -> tuple[dict[str, Any], np.ndarray, dict[str, Any], np.ndarray]:
    """Deterministic stratified split: (train frame, train target, test frame, test target)."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(target == cls))
        cut = round(train_frac * idx.size)
        train_idx.append(idx[:cut])
        test_idx.append(idx[cut:])
    tr, te = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))

    def take(ix: np.ndarray) -> dict[str, Any]:
        return {k: v[ix] if isinstance(v, np.ndarray) else [v[i] for i in ix] for k, v in frame.items()}

    return take(tr), target[tr], take(te), target[te]


def german_split() -> tuple[dict[str, Any], np.ndarray, dict[str, Any], np.ndarray]:
    return split(*load_german())
