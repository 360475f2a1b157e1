"""Every table of the node, imported in one place so metadata (and Alembic) sees them all."""

from xinyidai.access.models import AccessAlert, Authorization, AuthorizationScope, VerificationRequest
from xinyidai.entities.models import (
    ApiCredential,
    FinancialInstitution,
    LoginSession,
    MarketEntity,
    RealNameRegistration,
    RequestNonce,
    User,
)
from xinyidai.kit.audit import AuditCheckpoint, AuditEvent, AuditHead
from xinyidai.kit.db import Base
from xinyidai.network.models import (
    BankNeed,
    FeedbackNote,
    InboxEnvelope,
    OutboxEnvelope,
    Peer,
    Reconciliation,
    RefusedEnvelope,
    RelayCursor,
)
from xinyidai.records.models import CreditRecord, Delivery, DeliveryIssue

metadata = Base.metadata

__all__ = ["BankNeed", "FeedbackNote", "InboxEnvelope", "OutboxEnvelope", "Peer", "Reconciliation",
           "RefusedEnvelope", "RelayCursor", "AccessAlert", "ApiCredential", "AuditCheckpoint", "AuditEvent", "AuditHead", "Authorization",
           "AuthorizationScope", "CreditRecord", "Delivery", "DeliveryIssue", "FinancialInstitution",
           "LoginSession", "MarketEntity", "RealNameRegistration", "RequestNonce", "User", "VerificationRequest",
           "metadata"]
