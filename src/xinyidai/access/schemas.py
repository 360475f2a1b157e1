"""What the authorized-sharing API takes in: verification claims and grants."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from xinyidai.access import verification
from xinyidai.access.authorizations import GrantRequest
from xinyidai.access.models import MODES, PURPOSES
from xinyidai.web.params import Day


class VerificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claims: list[verification.Claim] = Field(min_length=1, max_length=verification.MAX_CLAIMS)
    authorization: str | None = None
    request_id: str | None = Field(default=None, max_length=64,
                                   description="请求编号（用于幂等）；未带请求头 X-Request-Id 时必填")


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    institution_code: str = Field(min_length=1, description="金融机构的统一社会信用代码")
    # The enums document the choices; the service refuses others with its own code (BAD_PURPOSE, BAD_MODE).
    purpose: str = Field(min_length=1, json_schema_extra={"enum": list(PURPOSES)})
    mode: str = Field(min_length=1, json_schema_extra={"enum": list(MODES)})
    categories: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, description="信息类别代码")
    valid_until: Day
    max_uses: int | None = Field(None, ge=1, le=100_000, description="最多使用次数（不填则有效期内不限次数）")
    items: dict[str, list[str]] = Field(default_factory=dict)

    def to_request(self) -> GrantRequest:
        return GrantRequest(self.institution_code, self.purpose, self.mode, self.categories, self.valid_until,
                            self.max_uses, self.items)
