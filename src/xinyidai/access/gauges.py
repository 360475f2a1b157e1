"""Authorized sharing as Prometheus sees it (registered in `kit.metrics.COLLECTORS`): authorizations by
state, the uses spent under them, verification requests answered, accesses served by kind and refused by
reason — the last two read from the audit chain (its `action` column is indexed), which stays the record of
every access."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.access.log import SERVED_ACTIONS
from xinyidai.access.models import Authorization, VerificationRequest
from xinyidai.kit import metrics
from xinyidai.kit.audit import AuditEvent

REFUSED = "access.refused"
COUNTED = (*SERVED_ACTIONS, "access.verify")


def access_gauges(s: Session) -> Iterator[Metric]:
    states = GaugeMetricFamily("xinyidai_authorizations", "Authorizations by state", labels=["status"])
    uses = CounterMetricFamily("xinyidai_authorization_uses", "Uses spent under authorizations, by purpose",
                               labels=["purpose"])
    per_status: dict[str, int] = {}
    per_purpose: dict[str, int] = {}
    for status, purpose, n, spent in s.execute(
            select(Authorization.status, Authorization.purpose, func.count(),
                   func.coalesce(func.sum(Authorization.uses), 0))
            .group_by(Authorization.status, Authorization.purpose)):
        per_status[status] = per_status.get(status, 0) + n
        per_purpose[purpose] = per_purpose.get(purpose, 0) + int(spent)
    for status, n in sorted(per_status.items()):
        states.add_metric([status], n)
    for purpose, spent in sorted(per_purpose.items()):
        uses.add_metric([purpose], spent)
    yield states
    yield uses
    verifications = CounterMetricFamily("xinyidai_verification_requests", "Verification requests answered")
    verifications.add_metric([], s.scalar(select(func.count()).select_from(VerificationRequest)) or 0)
    yield verifications
    served = CounterMetricFamily("xinyidai_accesses", "Accesses served (and verifications made), by kind",
                                 labels=["action"])
    for action, n in s.execute(select(AuditEvent.action, func.count()).where(AuditEvent.action.in_(COUNTED))
                               .group_by(AuditEvent.action)):
        served.add_metric([action.removeprefix("access.")], n)
    yield served
    code = AuditEvent.detail["code"].as_string()
    refused = CounterMetricFamily("xinyidai_access_refusals", "Accesses refused, by reason (the refusal's code)",
                                  labels=["reason"])
    for reason, n in s.execute(select(code, func.count()).where(AuditEvent.action == REFUSED).group_by(code)):
        refused.add_metric([reason or "UNKNOWN"], n)
    yield refused


metrics.COLLECTORS["access"] = access_gauges
