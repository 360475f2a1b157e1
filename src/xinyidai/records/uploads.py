"""Receiving an uploaded delivery file: streamed to disk with a size limit, kept as evidence."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from starlette.datastructures import UploadFile

from xinyidai.kit.errors import InvalidInput
from xinyidai.records.loading import sanitize_filename

ALLOWED = (".csv", ".txt", ".jsonl", ".ndjson", ".json", ".xlsx", ".xlsm", ".xls")


class UploadTooLarge(InvalidInput):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


async def save_upload(upload: UploadFile, var_dir: Path, max_mb: int) -> tuple[Path, str]:
    """Returns (path on disk, the display name). The name given by the client is never used as a path."""
    name = sanitize_filename(upload.filename or "")
    if not name or name == "未命名文件":
        raise InvalidInput("请选择要上传的文件", code="FILE_REQUIRED")
    ext = os.path.splitext(name)[1].lower()
    if ext and ext not in ALLOWED:
        raise InvalidInput(f"不支持的文件类型 {ext}：请上传 CSV、JSON Lines 或 XLSX 文件", code="UNSUPPORTED_FORMAT")
    folder = var_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{ext}"
    limit = max_mb * 1024 * 1024
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                out.close()
                path.unlink(missing_ok=True)
                raise UploadTooLarge(f"文件超过 {max_mb} MB 上限，请拆分后分批报送")
            out.write(chunk)
    if size == 0:
        path.unlink(missing_ok=True)
        raise InvalidInput("上传的文件是空的", code="FILE_EMPTY")
    return path, name
