"""Tables of the node network: peers (parent and children), outbox and inbox of envelopes, seen nonces,
reconciliation results, banks' data needs, and feedback received from above."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.kit.audit import SignedHead
from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.types import BigId

PEER_STATUSES = {"pending": "待审核", "active": "已接入", "rejected": "已驳回", "rectifying": "整改中",
                 "suspended": "已暂停", "revoked": "已撤销"}
PEER_RELATIONS = {"parent": "上级节点", "child": "下级节点"}
OUTBOX_STATUSES = {"pending": "待发送", "sent": "已送达", "failed": "发送失败", "exported": "已导出"}
MODES = {"push": "服务接口推送", "pull": "下级轮询拉取", "file": "文件交换"}


class Peer(Base):
    """A neighbouring node: the parent this node reports to, or a child that applied to connect."""

    __tablename__ = "peers"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)  # CN, CN-230000, CN-230100
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(12), nullable=False)
    relation: Mapped[str] = mapped_column(String(8), nullable=False)
    endpoint: Mapped[str | None] = mapped_column(String(300))  # base URL; none for a pull-mode child
    mode: Mapped[str] = mapped_column(String(8), nullable=False, default="push")
    suite: Mapped[str] = mapped_column(String(8), nullable=False)
    public_key: Mapped[dict] = mapped_column(JSON, nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    region_prefix: Mapped[str | None] = mapped_column(String(6))  # entities routed to this child: 2301…
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    rectify_deadline: Mapped[date | None] = mapped_column(Date)
    contact: Mapped[str | None] = mapped_column(String(200))
    assessment: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    upload_categories: Mapped[list | None] = mapped_column(JSON)  # what this node passes up (None = all)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    checked_by: Mapped[str | None] = mapped_column(String(64))  # registration officer
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))  # security officer
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    legacy_path: Mapped[bool] = mapped_column(default=False)  # 先立后破: still also linked straight above
    # Periodic re-assessment (issue 25): when the assessment in force was decided and until when it holds;
    # a re-assessment the child submitted while connected waits here for the same check → decide flow.
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assessment_valid_until: Mapped[date | None] = mapped_column(Date)
    reassessment: Mapped[dict | None] = mapped_column(JSON)
    reassessment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reassessment_checked_by: Mapped[str | None] = mapped_column(String(64))
    reassessment_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Key rotation (issue 24, network.keys): public_key / key_id above are the peer's current key; the one
    # before its last rotation is still accepted until retiring_until (None: no earlier key accepted).
    retiring_key_id: Mapped[str | None] = mapped_column(String(64))
    retiring_public_key: Mapped[dict | None] = mapped_column(JSON)
    retiring_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    key_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxEnvelope(Base):
    """An envelope this node made for a peer: kept until the peer's signed receipt arrives."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(20), nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    items: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    wire: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # the signed, sealed envelope as sent
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[dict | None] = mapped_column(JSON)
    source_ref: Mapped[str | None] = mapped_column(String(60))  # the delivery or envelope it relays

    __table_args__ = (Index("ix_outbox_due", "status", "recipient", "next_attempt_at"),)


class InboxEnvelope(Base):
    """An envelope received from a peer: recorded once (a duplicate is answered with the same receipt)."""

    __tablename__ = "inbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sender: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    nonce: Mapped[str] = mapped_column(String(40), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    via: Mapped[str] = mapped_column(String(8), nullable=False)  # push / pull / file
    items: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    result: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    receipt: Mapped[dict] = mapped_column(JSON, nullable=False)

    __table_args__ = (UniqueConstraint("sender", "nonce", name="uq_inbox_sender_nonce"),)


class RefusedEnvelope(Base):
    """An envelope refused before anything was applied: what, from whom (as claimed) and why."""

    __tablename__ = "refused_envelopes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    claimed_id: Mapped[str | None] = mapped_column(String(40))
    claimed_sender: Mapped[str | None] = mapped_column(String(20), index=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    via: Mapped[str] = mapped_column(String(8), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class Reconciliation(Base):
    """Counts and digests of one category and day compared with a neighbour (对账)."""

    __tablename__ = "reconciliations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    peer: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    local_count: Mapped[int] = mapped_column(Integer, nullable=False)
    local_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    remote_count: Mapped[int | None] = mapped_column(Integer)
    remote_digest: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # match / mismatch / pending
    difference: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    resent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class BankNeed(Base):
    """A financial institution's stated need for data items (point 4), aggregated and passed up."""

    __tablename__ = "bank_needs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    origin_node: Mapped[str] = mapped_column(String(20), nullable=False)
    institution_code: Mapped[str] = mapped_column(String(18), nullable=False)
    institution_name: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    items: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    filed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_id: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)


class FeedbackNote(Base):
    """A quality problem found above about data this node sent, or passed down to the node that sent it."""

    __tablename__ = "feedback_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    from_node: Mapped[str] = mapped_column(String(20), nullable=False)
    about_node: Mapped[str] = mapped_column(String(20), nullable=False)
    entity_code: Mapped[str] = mapped_column(String(18), nullable=False)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    record_key: Mapped[str | None] = mapped_column(String(300))
    problem: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="open")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # How it was settled where the record was loaded (the department's ticket closed), reported back up the
    # path it came down: `closure_sent_at` is when this node passed the closure on to its parent.
    outcome: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closure_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RelayCursor(Base):
    """How far this node has queued records for a neighbour (the last credit_records.id considered)."""

    __tablename__ = "relay_cursors"

    peer: Mapped[str] = mapped_column(String(20), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)  # up / down
    last_id: Mapped[int] = mapped_column(BigId, nullable=False, default=0)


class ChildCheckpoint(Base):
    """A child's audit checkpoint head as this node received it: kept once, never changed."""

    __tablename__ = "child_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(20), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    prev_event_id: Mapped[int | None] = mapped_column(BigId)
    last_event_id: Mapped[int] = mapped_column(BigId, nullable=False)
    head_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    events: Mapped[int] = mapped_column(BigId, nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    suite: Mapped[str] = mapped_column(String(10), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ux_child_checkpoints_seq", "node", "seq", unique=True),
                      Index("ux_child_checkpoints_event", "node", "last_event_id", unique=True))

    def head(self) -> SignedHead:
        return SignedHead(self.seq, self.prev_event_id, self.last_event_id, self.head_digest, self.events,
                          self.signed_at, self.suite, self.key_id, self.signature)


SANCTION_TARGETS = {"peer": "节点", "institution": "金融机构"}
SANCTION_ACTIONS = {"suspend": "暂停接入", "revoke": "取消接入"}
SANCTION_SOURCES = {"deadline": "整改逾期", "incident": "安全事件", "assessment": "评估过期", "officer": "安全管理员提议"}
SANCTION_STATES = {"proposed": "待初审", "agreed": "待决定", "executed": "已执行", "rejected": "已否决"}


class SanctionProposal(Base):
    """A proposal to suspend or revoke a connected node or institution: raised by the daily job (a deadline
    passed), by an incident or by an officer, agreed by one security officer and decided by another. Nothing
    is cut without two people."""

    __tablename__ = "sanction_proposals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    target_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    target_code: Mapped[str] = mapped_column(String(20), nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String(12), nullable=False)
    source_ref: Mapped[str | None] = mapped_column(String(60))  # the deadline, incident number, …
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="proposed")
    proposed_by: Mapped[str] = mapped_column(String(64), nullable=False)  # a username, or "system"
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    agreed_by: Mapped[str | None] = mapped_column(String(64))
    agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_sanction_proposals_target", "target_kind", "target_code", "state"),)


REMINDER_KINDS = {"rectify_due": "整改期限将至", "rectify_overdue": "整改已逾期",
                  "assessment_due": "安全评估将到期", "assessment_expired": "安全评估已过期"}


class ConnectionReminder(Base):
    """One reminder the daily job sent (or a step it took) for one deadline: recorded once, so running the job
    twice on a day, or every day, reminds once per step."""

    __tablename__ = "connection_reminders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    target_code: Mapped[str] = mapped_column(String(20), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    step: Mapped[str] = mapped_column(String(10), nullable=False)  # d-7, d-1, d+1 …
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    channels: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # notifier, envelope

    __table_args__ = (UniqueConstraint("target_kind", "target_code", "kind", "due_on", "step",
                                       name="uq_connection_reminders_step"),)


class NodeNotice(Base):
    """A notice this node received from its parent in a signed envelope (a rectification deadline, a
    re-assessment due, a suspension): shown on this node's network pages until read."""

    __tablename__ = "node_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    from_node: Mapped[str] = mapped_column(String(20), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    due_on: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    read_by: Mapped[str | None] = mapped_column(String(64))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
