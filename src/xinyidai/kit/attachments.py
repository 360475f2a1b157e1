"""What an uploaded document really is (a PDF, a PNG or a JPEG), judged by its bytes rather than its name.

Shared by every place that takes evidence from people (policy claims, objections, credit repair). Beyond the
first bytes it refuses what hides something else: an executable under a document's name, a PDF that runs
script or launches a program or carries embedded files, an image with bytes after its end (the classic way
to append a program or an archive to a picture)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xinyidai.kit.errors import InvalidInput

MAX_BYTES = 10 * 1024 * 1024
KINDS = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg"}
MAGIC = {b"%PDF-": "pdf", b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}
EXTENSIONS = {"pdf": ("pdf",), "png": ("png",), "jpg": ("jpg", "jpeg")}
# Programs and archives, by their first bytes: named as documents, they are refused as disguised.
EXECUTABLE = {b"MZ": "Windows 可执行程序", b"\x7fELF": "Linux 可执行程序", b"#!": "脚本",
              b"\xca\xfe\xba\xbe": "可执行程序", b"\xcf\xfa\xed\xfe": "macOS 可执行程序",
              b"PK\x03\x04": "压缩包", b"Rar!": "压缩包", b"7z\xbc\xaf": "压缩包"}
# PDF names that make a reader act rather than show (PDF 32000-1 §12.6, §7.11.4).
PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|EmbeddedFiles|RichMedia|XFA)\b")


@dataclass(frozen=True)
class Kind:
    ext: str
    media_type: str


def _fail(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code)


def _png_end(data: bytes) -> int | None:
    i = data.rfind(b"IEND")
    return i + 8 if i >= 4 else None  # the chunk type, then its 4-byte CRC


def _jpeg_end(data: bytes) -> int | None:
    i = data.rfind(b"\xff\xd9")
    return i + 2 if i >= 0 else None


def check(data: bytes, filename: str = "", *, what: str = "证明材料", max_bytes: int = MAX_BYTES) -> Kind:
    """The document's kind, or a refusal a person can act on (code for programs, reason in Chinese)."""
    if not data:
        raise _fail(f"{what}文件是空的", "EVIDENCE_EMPTY")
    if len(data) > max_bytes:
        raise _fail(f"{what}文件超过 {max_bytes // (1024 * 1024)} MB，请压缩后上传", "EVIDENCE_TOO_LARGE")
    for magic, name in EXECUTABLE.items():
        if data.startswith(magic):
            raise _fail(f"{what}「{filename or '未命名'}」实为{name}，不是文档，已拒收", "EVIDENCE_DISGUISED")
    ext = next((k for m, k in MAGIC.items() if data.startswith(m)), None)
    if ext is None:
        raise _fail(f"{what}须为 PDF、PNG 或 JPG 文件（按文件内容识别，不看扩展名）", "EVIDENCE_FORMAT")
    named = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if named and named not in EXTENSIONS[ext] and named in {e for es in EXTENSIONS.values() for e in es}:
        raise _fail(f"{what}「{filename}」的扩展名与内容不符（内容为 {ext.upper()}），请核对后重新上传",
                    "EVIDENCE_NAME_MISMATCH")
    if ext == "pdf":
        if PDF_ACTIVE.search(data):
            raise _fail(f"{what}「{filename or '未命名'}」含有脚本、启动程序或嵌入文件，出于安全原因不予接收；"
                        "请另存为普通 PDF 后上传", "EVIDENCE_ACTIVE_CONTENT")
        if b"%%EOF" not in data[-1024:]:
            raise _fail(f"{what}「{filename or '未命名'}」不是完整的 PDF 文件（缺少文件结束标记）", "EVIDENCE_TRUNCATED")
    else:
        end = _png_end(data) if ext == "png" else _jpeg_end(data)
        if end is None:
            raise _fail(f"{what}「{filename or '未命名'}」不是完整的图片文件", "EVIDENCE_TRUNCATED")
        if len(data) - end > 16:  # a few padding bytes are common; a program or archive is not
            raise _fail(f"{what}「{filename or '未命名'}」在图片结尾之后还附带了 {len(data) - end} 字节的其他内容，"
                        "已拒收", "EVIDENCE_DISGUISED")
    return Kind(ext, KINDS[ext])


__all__ = ["KINDS", "MAX_BYTES", "Kind", "check"]
