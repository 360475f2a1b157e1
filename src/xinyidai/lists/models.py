"""Tables of white lists and key-project lists: rules, published lists and entries, subscriptions, deliveries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId, Code


class WhiteListRuleSet(Base):
    """The rules that put an entity on a white list, as data, versioned."""

    __tablename__ = "whitelist_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)  # e.g. 'sme-good-credit'
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    schedule: Mapped[str | None] = mapped_column(String(20))  # monthly / weekly / None (on demand)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (UniqueConstraint("code", "version", name="uq_whitelist_rules_code_version"),)


class WhiteList(Base):
    """One generated (or, for key projects, imported) list: a version people can cite."""

    __tablename__ = "whitelists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)  # whitelist / key_projects
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("whitelist_rules.id"))
    year: Mapped[int | None] = mapped_column(Integer)  # key projects: the list's year
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    origin_node: Mapped[str] = mapped_column(String(20), nullable=False)
    entries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="published")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class WhiteListEntry(Base):
    __tablename__ = "whitelist_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("whitelists.id", ondelete="CASCADE"), nullable=False)
    entity_code: Mapped[str] = mapped_column(Code(18), nullable=False)
    entity_name: Mapped[str] = mapped_column(String(200), nullable=False)
    grade: Mapped[str | None] = mapped_column(String(4))
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)  # key projects: project

    __table_args__ = (UniqueConstraint("list_id", "entity_code", name="uq_whitelist_entries_entity"),)


class WhiteListSubscription(Base):
    """Who receives a kind of list: an institution (on its portal) or a peer platform (over the network)."""

    __tablename__ = "whitelist_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_kind: Mapped[str] = mapped_column(String(12), nullable=False)  # institution / peer
    subscriber: Mapped[str] = mapped_column(String(20), nullable=False)
    list_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    rule_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("subscriber_kind", "subscriber", "list_kind", "rule_code",
                                       name="uq_whitelist_subscriptions"),)


class WhiteListDelivery(Base):
    """A list delivered to one subscriber: when, and whether it has been seen."""

    __tablename__ = "whitelist_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("whitelists.id", ondelete="CASCADE"), nullable=False)
    subscriber_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    subscriber: Mapped[str] = mapped_column(String(20), nullable=False)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    outbox_id: Mapped[str | None] = mapped_column(String(40))
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("list_id", "subscriber_kind", "subscriber",
                                       name="uq_whitelist_deliveries"),)
