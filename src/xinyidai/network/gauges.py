"""The relay as Prometheus sees it (registered in `kit.metrics.COLLECTORS`): envelopes waiting for each
peer's receipt and how old the oldest is (the lag), how long since each peer was last heard from, and the
envelopes refused per claimed sender.

A refused envelope's sender is only *claimed*: anyone can claim any code, so codes that are not a known peer
share the one label `other` — an attacker cannot mint a series per request."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from xinyidai.kit import metrics
from xinyidai.network.models import OutboxEnvelope, Peer, RefusedEnvelope


def relay_gauges(s: Session) -> Iterator[Metric]:
    backlog = GaugeMetricFamily("xinyidai_relay_backlog", "Envelopes sent and not yet acknowledged, by recipient",
                                labels=["peer"])
    lag = GaugeMetricFamily("xinyidai_relay_oldest_pending_age_seconds",
                            "Age of the oldest envelope still waiting for its receipt, by recipient", labels=["peer"])
    for peer, n, oldest in s.execute(
            select(OutboxEnvelope.recipient, func.count(), func.min(OutboxEnvelope.created_at))
            .where(OutboxEnvelope.status == "pending").group_by(OutboxEnvelope.recipient)):
        backlog.add_metric([peer], n)
        age = metrics.age_seconds(oldest)
        if age is not None:
            lag.add_metric([peer], age)
    yield backlog
    yield lag
    contact = GaugeMetricFamily("xinyidai_peer_last_contact_age_seconds",
                                "Seconds since a peer was last heard from", labels=["peer", "relation", "status"])
    for code, relation, status, at in s.execute(
            select(Peer.code, Peer.relation, Peer.status, Peer.last_contact_at)
            .where(Peer.last_contact_at.is_not(None))):
        contact.add_metric([code, relation, status], metrics.age_seconds(at) or 0.0)
    yield contact
    sender = case((RefusedEnvelope.claimed_sender.in_(select(Peer.code)), RefusedEnvelope.claimed_sender),
                  else_="other")
    refused = CounterMetricFamily("xinyidai_relay_refused_envelopes",
                                  "Envelopes refused before anything was applied, by claimed sender (unknown: other)",
                                  labels=["peer"])
    for peer, n in s.execute(select(sender, func.count()).group_by(sender)):
        refused.add_metric([peer], n)
    yield refused


metrics.COLLECTORS["network"] = relay_gauges
