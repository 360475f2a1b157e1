"""The audit chain as Prometheus sees it (registered in `kit.metrics.COLLECTORS`): its length (the head's
count, one row), and the last signed checkpoint — its sequence number and its age, which should stay below
the checkpoint interval; an old one means events are piling up unsealed."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.kit import metrics
from xinyidai.kit.audit import AuditCheckpoint, AuditHead


def audit_gauges(s: Session) -> Iterator[Metric]:
    length = GaugeMetricFamily("xinyidai_audit_chain_events", "Events in the audit chain")
    length.add_metric([], s.scalar(select(AuditHead.count).order_by(AuditHead.id).limit(1)) or 0)
    yield length
    last = s.execute(select(AuditCheckpoint.seq, AuditCheckpoint.signed_at, AuditCheckpoint.events)
                     .order_by(AuditCheckpoint.seq.desc()).limit(1)).first()
    seq = GaugeMetricFamily("xinyidai_audit_checkpoint_seq", "Sequence number of the last signed checkpoint")
    age = GaugeMetricFamily("xinyidai_audit_last_checkpoint_age_seconds", "Seconds since the last signed checkpoint")
    covered = GaugeMetricFamily("xinyidai_audit_checkpointed_events", "Events covered by the last signed checkpoint")
    if last is not None:
        seq.add_metric([], last.seq)
        age.add_metric([], metrics.age_seconds(last.signed_at) or 0.0)
        covered.add_metric([], last.events)
    yield seq
    yield age
    yield covered


metrics.COLLECTORS["audit"] = audit_gauges
