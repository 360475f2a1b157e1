"""What the authorized-sharing API takes in: verification claims and grants."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from xinyidai.access import verification
from xinyidai.access.authorizations import GrantRequest


class VerificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claims: list[verification.Claim] = Field(min_length=1, max_length=verification.MAX_CLAIMS)
    authorization: str | None = None
    request_id: str | None = Field(default=None, max_length=64)


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    institution_code: str
    purpose: str
    mode: str
    categories: list[str] = Field(min_length=1)
    valid_until: date
    max_uses: int | None = Field(None, ge=1, le=100_000, description="最多使用次数（不填则有效期内不限次数）")
    items: dict[str, list[str]] = Field(default_factory=dict)

    def to_request(self) -> GrantRequest:
        return GrantRequest(self.institution_code, self.purpose, self.mode, self.categories, self.valid_until,
                            self.max_uses, self.items)
