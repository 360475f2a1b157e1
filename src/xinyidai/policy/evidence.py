"""A claim's attachment (付息凭证, 代偿 or loss evidence): a PDF or an image, at most 10 MB, recognised by its
first bytes rather than its name, and kept under the node's var directory by its SHA-256 — so the claim
names exactly the file the officers saw, and the same file sent twice is kept once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from xinyidai.kit.errors import InvalidInput
from xinyidai.records.loading import sanitize_filename

MAX_BYTES = 10 * 1024 * 1024
MAGIC = {b"%PDF-": ("pdf", "application/pdf"), b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
         b"\xff\xd8\xff": ("jpg", "image/jpeg")}


@dataclass(frozen=True)
class Evidence:
    name: str
    sha256: str
    path: str  # relative to the var directory
    media_type: str


def kind_of(data: bytes) -> tuple[str, str] | None:
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            return kind
    return None


def store(var_dir: Path, filename: str, data: bytes) -> Evidence:
    if not data:
        raise InvalidInput("凭证文件是空的", code="EVIDENCE_EMPTY")
    if len(data) > MAX_BYTES:
        raise InvalidInput("凭证文件超过 10 MB，请压缩后上传", code="EVIDENCE_TOO_LARGE")
    kind = kind_of(data)
    if kind is None:
        raise InvalidInput("凭证须为 PDF、PNG 或 JPG 文件（按文件内容识别，不看扩展名）", code="EVIDENCE_FORMAT")
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
