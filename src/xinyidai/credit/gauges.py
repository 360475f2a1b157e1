"""Batch evaluation as Prometheus sees it (registered in `kit.metrics.COLLECTORS`): runs by status, and the
age of the last finished one — a nightly run that stopped finishing shows as an age past a day."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.credit.models import EvaluationRun
from xinyidai.kit import metrics


def credit_gauges(s: Session) -> Iterator[Metric]:
    runs = GaugeMetricFamily("xinyidai_credit_evaluation_runs", "Batch evaluation runs by status", labels=["status"])
    for status, n in s.execute(select(EvaluationRun.status, func.count()).group_by(EvaluationRun.status)):
        runs.add_metric([status], n)
    yield runs
    age = GaugeMetricFamily("xinyidai_credit_last_evaluation_age_seconds",
                            "Seconds since the last batch evaluation finished")
    last = s.scalar(select(func.max(EvaluationRun.finished_at)).where(EvaluationRun.status == "done"))
    if last is not None:
        age.add_metric([], metrics.age_seconds(last) or 0.0)
    yield age


metrics.COLLECTORS["credit"] = credit_gauges
