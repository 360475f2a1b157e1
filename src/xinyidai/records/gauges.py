"""The deliveries as Prometheus sees them (registered in `kit.metrics.COLLECTORS`): how many deliveries are in
each state, and how many rows all deliveries brought by what became of them (new, changed, unchanged,
rejected). Two grouped queries over the deliveries table at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.kit import metrics
from xinyidai.records.models import Delivery

OUTCOMES = ("new", "changed", "unchanged", "rejected")


def delivery_gauges(s: Session) -> Iterator[Metric]:
    by_status = GaugeMetricFamily("xinyidai_deliveries", "Deliveries by state", labels=["status"])
    for status, n in s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)):
        by_status.add_metric([status], n)
    yield by_status
    rows = CounterMetricFamily("xinyidai_delivery_rows", "Rows delivered, by what became of them",
                               labels=["outcome"])
    sums = s.execute(select(func.coalesce(func.sum(Delivery.rows_new), 0),
                            func.coalesce(func.sum(Delivery.rows_changed), 0),
                            func.coalesce(func.sum(Delivery.rows_unchanged), 0),
                            func.coalesce(func.sum(Delivery.rows_rejected), 0))).one()
    for outcome, n in zip(OUTCOMES, sums, strict=True):
        rows.add_metric([outcome], int(n))
    yield rows


metrics.COLLECTORS["records"] = delivery_gauges
