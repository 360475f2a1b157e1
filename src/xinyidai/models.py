"""Every table of the node, imported in one place so metadata (and Alembic) sees them all."""

from xinyidai.access.models import AccessAlert, Authorization, AuthorizationScope, VerificationRequest
from xinyidai.accounts.models import LoginFailure, LoginSession, RealNameRegistration, User
from xinyidai.credit.models import (
    Evaluation,
    EvaluationRun,
    FeatureSnapshot,
    IndicatorSystem,
    LoanOutcome,
    ModelMonitor,
    ScorecardModel,
)
from xinyidai.entities.models import MarketEntity
from xinyidai.incidents.models import Incident, IncidentAction, IncidentAuditLink, IncidentEntity
from xinyidai.institutions.models import ApiCredential, FinancialInstitution, Processor, RequestNonce
from xinyidai.kit.audit import AuditCheckpoint, AuditEvent, AuditHead
from xinyidai.kit.db import Base
from xinyidai.lists.models import (
    WhiteList,
    WhiteListDelivery,
    WhiteListEntry,
    WhiteListRuleSet,
    WhiteListSubscription,
)
from xinyidai.market.models import (
    Alert,
    AlertSubscription,
    Application,
    ApplicationEvent,
    CaseEvent,
    Cursor,
    DefaultCase,
    Demand,
    FeedbackFile,
    FeedbackIssue,
    Loan,
    Product,
    ProductVersion,
    Quote,
    Reminder,
    StatusReport,
)
from xinyidai.network.models import (
    BankNeed,
    ChildCheckpoint,
    ConnectionReminder,
    FeedbackNote,
    InboxEnvelope,
    NodeNotice,
    OutboxEnvelope,
    Peer,
    Reconciliation,
    RefusedEnvelope,
    RelayCursor,
    SanctionProposal,
)
from xinyidai.oversight.models import (
    IndicatorSystemVersion,
    ProgressReport,
    Run,
    RunCity,
    RunValue,
    Task,
    TaskStep,
)
from xinyidai.policy.models import Claim as PolicyClaim
from xinyidai.policy.models import (
    ClaimEvent,
    Enrolment,
    GuaranteeContract,
    LedgerEntry,
    Programme,
    RuleVersion,
)
from xinyidai.quality.models import (
    Department,
    Finding,
    ProviderScore,
    QualityRun,
    RuleSet,
    Source,
    SourcePull,
    Ticket,
    TicketStep,
)
from xinyidai.records.models import CreditRecord, Delivery, DeliveryIssue, RecordMark
from xinyidai.reports.models import CreditReport
from xinyidai.rights.models import (
    CaseStep,
    Commitment,
    Evidence,
    MigratedAccount,
    MigratedAuthorization,
    MigrationImport,
    MigrationRow,
    Objection,
    RepairApplication,
)

metadata = Base.metadata

__all__ = ["CaseStep", "Commitment", "Evidence", "MigratedAccount", "MigratedAuthorization", "MigrationImport",
           "MigrationRow", "Objection", "RepairApplication", "RecordMark", "Processor", "CreditReport", "Evaluation", "EvaluationRun", "FeatureSnapshot", "IndicatorSystem", "LoanOutcome",
           "ModelMonitor", "ScorecardModel", "WhiteList", "WhiteListDelivery", "WhiteListEntry",
           "WhiteListRuleSet", "WhiteListSubscription",
           "BankNeed", "ChildCheckpoint", "FeedbackNote", "InboxEnvelope", "OutboxEnvelope", "Peer", "Reconciliation",
           "RefusedEnvelope", "RelayCursor", "ConnectionReminder", "NodeNotice", "SanctionProposal",
           "Incident", "IncidentAction", "IncidentAuditLink", "IncidentEntity", "AccessAlert", "ApiCredential", "AuditCheckpoint", "AuditEvent", "AuditHead", "Authorization",
           "AuthorizationScope", "CreditRecord", "Delivery", "DeliveryIssue", "FinancialInstitution",
           "LoginFailure", "LoginSession", "MarketEntity", "RealNameRegistration", "RequestNonce", "User", "VerificationRequest",
           "Alert", "AlertSubscription", "Application", "ApplicationEvent", "CaseEvent", "Cursor", "DefaultCase",
           "Demand", "FeedbackFile", "FeedbackIssue", "Loan", "Product", "ProductVersion", "Quote",
           "Reminder", "StatusReport", "ClaimEvent", "Enrolment", "GuaranteeContract", "LedgerEntry", "PolicyClaim",
           "Programme", "RuleVersion", "IndicatorSystemVersion", "ProgressReport", "Run", "RunCity", "RunValue",
           "Task", "TaskStep", "Department", "Finding", "ProviderScore", "QualityRun", "RuleSet", "Source",
           "SourcePull", "Ticket", "TicketStep", "metadata"]
