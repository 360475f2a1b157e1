"""Typed results of the calls a bank makes every day, mirroring the node's response shapes (the schemas of
institutions, access, reports and market). Fields the node adds later are tolerated: each result keeps the
whole answer in `raw`, and a field the node leaves out is None."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def build(cls: type[T], data: dict[str, Any], **nested: Any) -> T:
    """An instance of the result dataclass `cls` from a JSON object: known fields only, `raw` the whole."""
    kw: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name == "raw":
            continue
        if f.name in nested:
            kw[f.name] = nested[f.name]
        elif f.name in data:
            kw[f.name] = data[f.name]
        elif f.default is MISSING and f.default_factory is MISSING:
            kw[f.name] = None
    return cls(**kw, raw=data)


@dataclass(frozen=True)
class Institution:
    """`GET /api/v1/institutions/me`: the calling institution, and how this call was authenticated."""

    code: str
    name: str
    kind: str
    status: str
    status_label: str
    rate_per_minute: int
    principal: str
    authenticated_by: str  # "signature" / "api_key" / "session"
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """`GET /api/v1/access/entities/{code}/profile`: public information plus what live authorizations cover,
    in summary form. `access_id` is the entry in the access log the enterprise sees."""

    entity: dict[str, Any]
    purpose: str
    served_under: list[dict[str, Any]]
    categories: dict[str, Any]
    access_id: int
    request_id: str | None
    notice: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Detail:
    """`GET /api/v1/access/entities/{code}/records/{category}`: the original rows of one category."""

    entity_code: str
    category: str
    category_name: str
    tier: str
    purpose: str
    served_under: list[Any]
    rows: list[dict[str, Any]]
    access_id: int
    request_id: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """`POST /api/v1/access/entities/{code}/verifications`: one outcome per claim and the node's signed
    receipt (`replayed`: the same X-Request-Id was answered before, nothing spent again)."""

    results: list[dict[str, Any]]
    receipt: dict[str, Any]
    replayed: bool
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Report:
    """A signed credit report (`POST …/entities/{code}/reports`, `GET …/reports/{report_no}`)."""

    report_no: str
    entity_code: str
    version: str
    recipient: str | None
    snapshot_date: str
    generated_at: str
    verification_code: str
    digest: str
    key_id: str
    suite: str
    signature: str
    content: dict[str, Any]
    pdf_url: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class ReportCheck:
    """`POST /api/v1/credit/reports/verify`: whether a report is genuine (`code` VALID, REPORT_NOT_FOUND,
    CONTENT_ALTERED or SIGNATURE_INVALID)."""

    valid: bool
    code: str
    message: str
    report_no: str | None = None
    subject_name: str | None = None
    subject_code: str | None = None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Product:
    """One version of a financing product (`ProductVersionOut`); amounts in yuan, rates in % a year."""

    number: str
    version: int
    state: str
    institution_code: str
    institution_name: str
    name: str
    kind: str
    amount_min: float
    amount_max: float
    term_min_months: int
    term_max_months: int
    rate_min: float
    rate_max: float
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Application:
    """A loan application in the institution's queue (`ApplicationOut`); `next` lists the moves now open."""

    number: str
    state: str
    state_label: str
    entity_code: str
    entity_name: str
    institution_code: str
    product: str
    product_name: str
    amount: float
    term_months: int
    purpose: str
    authorization: str
    offer: dict[str, Any] | None
    loan_no: str | None
    submitted_at: str
    due_at: str | None
    breached: bool
    next: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """`POST /api/v1/market/applications/{number}/decisions`: the application after the step, the step's
    timeline entry, and `replayed` when the same X-Request-Id had already done it."""

    application: Application
    event: dict[str, Any]
    replayed: bool
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class LoanStatus:
    """`POST /api/v1/market/loans/{loan}/status`: the loan, the stored report, whether it changed anything,
    and the default case it opened or moved, if any."""

    loan: dict[str, Any]
    report: dict[str, Any]
    changed: bool
    case: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: `total` rows in all, `pages` pages of `size`."""

    items: list[T]
    total: int
    page: int
    size: int
    pages: int

    @classmethod
    def of(cls, data: dict[str, Any], item: type[T]) -> Page[T]:
        return cls([build(item, x) for x in data.get("items", [])], int(data.get("total", 0)),
                   int(data.get("page", 1)), int(data.get("size", 0)), int(data.get("pages", 0)))
