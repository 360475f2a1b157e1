"""The node's metrics for Prometheus: one registry per application, the request metrics, and the gauges the
domains add.

Each application gets its own `CollectorRegistry` (never the library's global one), so several apps in one
process — the tests make many — keep their counts apart.

* Requests are counted by route *template* (`/api/v1/entities/{code}`), method and status, and timed in a
  histogram by route and method. The raw path is never a label: it carries credit codes, and every distinct
  code would be a new series.
* What lives in the database is read at scrape time. The shell and `kit` know no domain, so the domains
  register their readers here, as they register into `network.runtime.COLLECTORS`: a domain's `gauges.py`
  puts a function into `COLLECTORS` that takes a short, read-only session and yields metric families
  (`GaugeMetricFamily`, `CounterMetricFamily`), each from one grouped query. A reader that fails is logged and
  counted in `xinyidai_scrape_errors_total`; the others still answer.
* The database pool's use (connections checked out, pool size, overflow) needs no query.

Every name starts with `xinyidai_`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.db import Database

log = logging.getLogger(__name__)

GaugeReader = Callable[[Session], Iterable[Metric]]

# What the domains read at scrape time, by a name for logs and the scrape-error counter. Filled at import by
# the domains' `gauges` modules (the application imports them).
COLLECTORS: dict[str, GaugeReader] = {}

# Seconds; most routes answer in milliseconds, uploads and reports take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "<unmatched>"  # a request no route took (404): one series, not one per probed path


def age_seconds(at: datetime | None) -> float | None:
    """Seconds from `at` to now by the node's clock (None stays None)."""
    if at is None:
        return None
    return max(0.0, (clock.now() - at).total_seconds())


class DatabaseGauges(Collector):
    """At each scrape: the pool's use, then every registered reader over one short session."""

    def __init__(self, db: Database, readers: dict[str, GaugeReader] | None = None) -> None:
        self.db = db
        self.readers = COLLECTORS if readers is None else readers
        self.errors: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        yield from self._pool()
        duration = GaugeMetricFamily("xinyidai_scrape_reader_duration_seconds",
                                     "How long each domain's reader took at this scrape", labels=["reader"])
        families: list[Metric] = []
        s = self.db.sessions()
        try:
            for name, reader in sorted(self.readers.items()):
                started = time.perf_counter()
                try:
                    families.extend(reader(s))
                except Exception:  # noqa: BLE001 - one broken reader must not hide the others
                    log.exception("metrics reader %s failed", name)
                    self.errors[name] = self.errors.get(name, 0) + 1
                    s.rollback()  # PostgreSQL refuses further statements in a failed transaction
                duration.add_metric([name], time.perf_counter() - started)
        finally:
            s.rollback()  # read only: nothing to keep
            s.close()
        yield from families
        yield duration
        errors = CounterMetricFamily("xinyidai_scrape_errors", "Readers that failed at a scrape, by reader",
                                     labels=["reader"])
        for name in sorted(self.readers):
            errors.add_metric([name], self.errors.get(name, 0))
        yield errors

    def _pool(self) -> Iterator[Metric]:
        pool: Any = self.db.engine.pool
        used = GaugeMetricFamily("xinyidai_db_pool_checked_out", "Database connections in use")
        used.add_metric([], _call(pool, "checkedout"))
        yield used
        size = GaugeMetricFamily("xinyidai_db_pool_size", "Connections the pool keeps (before overflow)")
        size.add_metric([], _call(pool, "size"))
        yield size
        over = GaugeMetricFamily("xinyidai_db_pool_overflow", "Connections opened beyond the pool size")
        over.add_metric([], max(0, _call(pool, "overflow")))
        yield over


def _call(pool: Any, name: str) -> float:
    fn = getattr(pool, name, None)
    return float(fn()) if callable(fn) else 0.0


class NodeMetrics:
    """The registry of one application with its request metrics and the database gauges."""

    def __init__(self, db: Database, readers: dict[str, GaugeReader] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("xinyidai_http_requests", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("xinyidai_http_request_duration_seconds",
                                 "Time to answer an HTTP request (to the last byte), by route template and method",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.gauges = DatabaseGauges(db, readers)
        self.registry.register(self.gauges)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
