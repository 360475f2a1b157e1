"""A claim's attachment (付息凭证, 代偿 or loss evidence): a PDF or an image, at most 10 MB, recognised by its
bytes rather than its name (`kit.attachments`: a disguised program or a PDF that runs script is refused), and kept under the node's var directory by its SHA-256 — so the claim
names exactly the file the officers saw, and the same file sent twice is kept once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from xinyidai.kit import attachments
from xinyidai.records.loading import sanitize_filename

MAX_BYTES = attachments.MAX_BYTES


@dataclass(frozen=True)
class Evidence:
    name: str
    sha256: str
    path: str  # relative to the var directory
    media_type: str


def store(var_dir: Path, filename: str, data: bytes) -> Evidence:
    checked = attachments.check(data, filename or "", what="凭证")
    kind = (checked.ext, checked.media_type)
    digest = hashlib.sha256(data).hexdigest()
    rel = Path("policy-evidence") / f"{digest}.{kind[0]}"
    path = var_dir / rel
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return Evidence(sanitize_filename(filename or "")[:200] or f"凭证.{kind[0]}", digest, str(rel), kind[1])


def media_type(path: str) -> str:
    ext = path.rsplit(".", 1)[-1]
    return {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg"}.get(ext, "application/octet-stream")
