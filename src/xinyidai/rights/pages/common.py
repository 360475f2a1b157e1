"""What the rights pages share: a case's evidence file sent back to someone who may see the case."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response

from xinyidai.kit.attachments import KINDS
from xinyidai.rights.models import Evidence

EXTENSIONS = {media: ext for ext, media in KINDS.items()}


def evidence_response(case_number: str, ev: Evidence) -> Response:
    """The file as a download, never rendered in the page (attachment, nosniff), named by the case; the
    person's own file name travels in `filename*`. The caller has found the case through its readable query."""
    ext = EXTENSIONS.get(ev.content_type, "bin")
    return Response(ev.data, media_type=ev.content_type, headers={
        "Content-Disposition": f"attachment; filename=\"{case_number}-{ev.id}.{ext}\"; "
                               f"filename*=UTF-8''{quote(ev.filename)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
