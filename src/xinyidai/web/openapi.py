"""What the OpenAPI document says where FastAPI cannot infer it from a route's signature.

A route answering with a file (CSV, PDF) returns a plain `Response`; FastAPI would document it as JSON.
Such a route declares `response_class=Response` (no media type of its own, so its errors stay documented as
JSON) and `responses=download(...)` for its 200."""

from __future__ import annotations

from typing import Any

CSV = "text/csv"
PDF = "application/pdf"


def download(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route whose body is a file of `media_type`."""
    return {200: {"description": description,
                  "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}
