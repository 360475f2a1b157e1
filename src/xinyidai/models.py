"""Every table of the node, imported in one place so metadata (and Alembic) sees them all."""

from xinyidai.entities.models import LoginSession, MarketEntity, User
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Base
from xinyidai.records.models import CreditRecord, Delivery, DeliveryIssue

metadata = Base.metadata

__all__ = ["AuditEvent", "CreditRecord", "Delivery", "DeliveryIssue", "LoginSession", "MarketEntity", "User",
           "metadata"]
