"""Tables of the incident register: an incident, the audit entries and enterprises it concerns, and the
actions taken on it. An incident a child node reported keeps that node and its own number (`origin_node`,
`external_id`), so a second delivery of the same report is recognised."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code

INCIDENT_KINDS = {"leak": "数据泄露", "intrusion": "网络入侵", "misuse": "机构违规使用数据",
                  "disclosure": "平台错误披露", "other": "其他安全事件"}
# GB/T 20986 grades, from the least to the most serious.
SEVERITIES = {"minor": "一般", "major": "较大", "serious": "重大", "critical": "特别重大"}
PARTY_KINDS = {"platform": "本平台", "peer": "接入节点", "institution": "金融机构"}
INCIDENT_STATES = {"open": "处置中", "closed": "已结案"}


class Incident(Base):
    """One security incident: who, what, when found, how serious, who is responsible, and its closure."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    party_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    party_code: Mapped[str | None] = mapped_column(String(20))  # the node or institution involved
    responsible_unit: Mapped[str] = mapped_column(String(200), nullable=False)
    data_affected: Mapped[str] = mapped_column(Text, nullable=False, default="")  # which data, in words
    state: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    reported_by: Mapped[str] = mapped_column(String(64), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closure: Mapped[str | None] = mapped_column(Text)  # findings, responsibility pursued, measures
    origin_node: Mapped[str | None] = mapped_column(String(20))  # set when a child node reported it
    external_id: Mapped[str | None] = mapped_column(String(60), unique=True)
    reported_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_incidents_state", "state", "found_at"),)


class IncidentAuditLink(Base):
    """An audit entry of this node that shows the incident (a disclosure, an access, a change)."""

    __tablename__ = "incident_audit_links"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    audit_event_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class IncidentEntity(Base):
    """An enterprise whose data the incident touched: it sees the incident on its 谁查看了我的数据 page."""

    __tablename__ = "incident_entities"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    entity_code: Mapped[str] = mapped_column(Code(18), primary_key=True)

    __table_args__ = (Index("ix_incident_entities_entity", "entity_code"),)


class IncidentAction(Base):
    """A step taken on an incident (contained, notified, reported, responsibility pursued), in order."""

    __tablename__ = "incident_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (UniqueConstraint("incident_id", "at", "by", name="uq_incident_actions_step"),)
