"""Incidents go up: each incident recorded on this node — and each later step or closure — is reported to the
parent in a signed envelope of kind `incident`, the whole incident each time, so the parent's copy is simply
replaced by the newer state. The parent keeps it under `external_id` = sender's code + number, with
`origin_node` = the sender; the same report twice changes nothing.

Payload  {"incident": {"number", "kind", "severity", "title", "description", "occurred_at", "found_at",
          "party_kind", "party_code", "responsible_unit", "data_affected", "state", "reported_by",
          "reported_at", "closed_by", "closed_at", "closure", "entities": [uscc, …],
          "actions": [{"at", "by", "text"}, …]}}                                            child → parent

Reporting runs in the relay worker's rounds (`network.runtime.COLLECTORS`): an incident whose
`reported_up_at` is empty is queued when the parent is connected, then marked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xinyidai.incidents.models import (
    INCIDENT_KINDS,
    INCIDENT_STATES,
    PARTY_KINDS,
    SEVERITIES,
    Incident,
    IncidentAction,
    IncidentEntity,
)
from xinyidai.kit import audit, clock
from xinyidai.network import exchange, relay, runtime
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import Peer

KIND = "incident"
PER_ROUND = 50


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def incident_doc(s: Session, inc: Incident) -> dict[str, Any]:
    steps = s.execute(select(IncidentAction).where(IncidentAction.incident_id == inc.id)
                      .order_by(IncidentAction.at, IncidentAction.id)).scalars()
    entities = s.execute(select(IncidentEntity.entity_code).where(IncidentEntity.incident_id == inc.id)
                         .order_by(IncidentEntity.entity_code)).scalars()
    return {"number": inc.number, "kind": inc.kind, "severity": inc.severity, "title": inc.title,
            "description": inc.description, "occurred_at": _iso(inc.occurred_at), "found_at": _iso(inc.found_at),
            "party_kind": inc.party_kind, "party_code": inc.party_code, "responsible_unit": inc.responsible_unit,
            "data_affected": inc.data_affected, "state": inc.state, "reported_by": inc.reported_by,
            "reported_at": _iso(inc.reported_at), "closed_by": inc.closed_by, "closed_at": _iso(inc.closed_at),
            "closure": inc.closure, "entities": list(entities),
            "actions": [{"at": _iso(a.at), "by": a.by, "text": a.text} for a in steps]}


def report_pending(s: Session, ctx: relay.NodeContext) -> int:
    """Queue to the parent every own incident changed since its last report; returns how many."""
    up = relay.parent(s)
    if up is None or up.status not in ("active", "rectifying"):
        return 0
    due = list(s.execute(select(Incident).where(Incident.origin_node.is_(None), Incident.reported_up_at.is_(None))
                         .order_by(Incident.id).limit(PER_ROUND)).scalars())
    now = clock.now()
    for inc in due:
        relay.queue(s, ctx, up, KIND, {"incident": incident_doc(s, inc)}, 1, source_ref=inc.number)
        inc.reported_up_at = now
    return len(due)


# ── on the parent ───────────────────────────────────────────────────────────────────────────────────────

def _refuse(message: str, code: str = "PAYLOAD_INVALID") -> ExchangeRefused:
    return ExchangeRefused(message, code=code)


def _str(doc: Mapping[str, Any], key: str, limit: int, *, optional: bool = False) -> str | None:
    v = doc.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or len(v) > limit or (not optional and not v.strip()):
        raise _refuse(f"安全事件报文的字段 {key} 缺失或不正确")
    return v


def _moment(doc: Mapping[str, Any], key: str, *, optional: bool = False) -> datetime | None:
    raw = _str(doc, key, 40, optional=optional)
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise _refuse(f"安全事件报文的时间 {key} 不正确") from None
    if at.tzinfo is None:
        raise _refuse(f"安全事件报文的时间 {key} 缺少时区")
    return at


def _parse(doc: Any) -> dict[str, Any]:
    """The incident of a payload, every field checked, before anything is written."""
    if not isinstance(doc, Mapping):
        raise _refuse("安全事件报文缺少 incident")
    out: dict[str, Any] = {k: _str(doc, k, n) for k, n in (("number", 40), ("title", 200), ("description", 10_000),
                                                           ("responsible_unit", 200), ("reported_by", 64))}
    for key, allowed in (("kind", INCIDENT_KINDS), ("severity", SEVERITIES), ("party_kind", PARTY_KINDS),
                         ("state", INCIDENT_STATES)):
        if doc.get(key) not in allowed:
            raise _refuse(f"安全事件报文的字段 {key} 不正确")
        out[key] = doc[key]
    out["party_code"] = _str(doc, "party_code", 20, optional=True)
    out["data_affected"] = _str(doc, "data_affected", 4_000, optional=True) or ""
    out["closed_by"] = _str(doc, "closed_by", 64, optional=True)
    out["closure"] = _str(doc, "closure", 10_000, optional=True)
    out["found_at"], out["reported_at"] = _moment(doc, "found_at"), _moment(doc, "reported_at")
    out["occurred_at"], out["closed_at"] = _moment(doc, "occurred_at", optional=True), _moment(doc, "closed_at",
                                                                                               optional=True)
    if out["state"] == "closed" and not (out["closed_by"] and out["closed_at"] and out["closure"]):
        raise _refuse("已结案的安全事件报文缺少结案人、结案时间或结论")
    entities, steps = doc.get("entities"), doc.get("actions")
    if not isinstance(entities, list) or len(entities) > 200 or not all(
            isinstance(c, str) and 0 < len(c) <= 18 for c in entities):
        raise _refuse("安全事件报文的 entities 不正确")
    if not isinstance(steps, list) or len(steps) > 500 or not all(isinstance(a, Mapping) for a in steps):
        raise _refuse("安全事件报文的 actions 不正确")
    out["entities"] = sorted(set(entities))
    out["actions"] = [(_moment(a, "at"), _str(a, "by", 64), _str(a, "text", 4_000)) for a in steps]
    if len({(at, by) for at, by, _ in out["actions"]}) != len(out["actions"]):
        raise _refuse("安全事件报文中有重复的处置记录")
    return out


FIELDS = ("kind", "severity", "title", "description", "occurred_at", "found_at", "party_kind", "party_code",
          "responsible_unit", "data_affected", "state", "reported_by", "reported_at", "closed_by", "closed_at",
          "closure")


def _same(inc: Incident, doc: Mapping[str, Any], held_steps: set[tuple[Any, str, str]],
          held_entities: list[str]) -> bool:
    return all(getattr(inc, k) == doc[k] for k in FIELDS) and held_entities == doc["entities"] \
        and held_steps == set(doc["actions"])


def apply_incident(s: Session, ctx: relay.NodeContext, sender: str, payload: Any) -> dict[str, Any]:
    """Store a child's incident once; a newer report of it (a step, the closure) replaces the copy. A report
    from a node that is not a child of this one is refused; so is any malformed one, before any write."""
    peer = s.get(Peer, sender) if sender else None
    if peer is None or peer.relation != "child":
        raise _refuse("只接受下级节点报告的安全事件", code="NOT_A_CHILD")
    doc = _parse(payload.get("incident") if isinstance(payload, Mapping) else None)
    external_id = f"{sender}-{doc['number']}"
    if len(external_id) > 40:
        raise _refuse("安全事件编号过长")
    inc = s.execute(select(Incident).where(Incident.external_id == external_id)).scalar_one_or_none()
    if inc is not None:
        steps = {(a.at, a.by, a.text) for a in s.execute(select(IncidentAction)
                                                         .where(IncidentAction.incident_id == inc.id)).scalars()}
        ents = list(s.execute(select(IncidentEntity.entity_code).where(IncidentEntity.incident_id == inc.id)
                              .order_by(IncidentEntity.entity_code)).scalars())
        if _same(inc, doc, steps, ents):
            return {"stored": 0, "duplicates": 1}
        if inc.state == "closed":
            raise _refuse(f"本节点已有结案的 {external_id}，不再接受修改", code="INCIDENT_CLOSED")
        s.execute(delete(IncidentAction).where(IncidentAction.incident_id == inc.id))
        s.execute(delete(IncidentEntity).where(IncidentEntity.incident_id == inc.id))
        what = "updated"
    else:
        inc = Incident(number=external_id, origin_node=sender, external_id=external_id)
        s.add(inc)
        what = "stored"
    for k in FIELDS:
        setattr(inc, k, doc[k])
    s.flush()
    s.add_all([IncidentEntity(incident_id=inc.id, entity_code=c) for c in doc["entities"]])
    s.add_all([IncidentAction(incident_id=inc.id, at=at, by=by, text=text) for at, by, text in doc["actions"]])
    audit.record(s, f"node:{sender}", f"incident.{'received' if what == 'stored' else 'updated'}",
                 f"incident:{external_id}", state=doc["state"], severity=doc["severity"])
    return {"stored": int(what == "stored"), "updated": int(what == "updated")}


exchange.APPLIERS[KIND] = apply_incident
runtime.COLLECTORS["incidents_reported"] = report_pending
