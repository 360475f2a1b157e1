"""Readers for delivery files: CSV, JSON Lines and XLSX, streamed with bounded memory.

A reader turns a delivered file into its header (`Reader.headers`) and a lazy, single-pass stream of
`Row`s. It deals only with the file's structure and encoding; whether the columns and values fit the
catalogue is checked elsewhere. Nothing in a file is ever evaluated.

Row numbers are what a person sees when opening the file:

* CSV — records, counted from the top of the file: the header is row 1 (or later, if the file starts
  with blank lines), the next record row 2, and so on. Blank lines count as rows (they are skipped, not
  returned). A record with line breaks inside a quoted field counts as ONE row, as a spreadsheet program
  shows it, so after such a record the row number is smaller than the line number in a text editor.
* XLSX — the worksheet's own row numbers (the header is normally row 1).
* JSON Lines — physical line numbers, the first line being 1 (the first object is both the header and
  the first data row).

Problems that make the whole file unreadable raise `FileRejected` (with a specific `code` and the row
where it happened); problems confined to one row come back as a `Row` with `problem`/`problem_code` set,
and the caller rejects that row.

A file cut short is refused whole (FILE_TRUNCATED), not read up to the cut: a last CSV record with too few
columns, a last JSON line that does not parse, or a last character missing its final bytes, when the file
does not end with a line break. (A cut that happens to fall at the end of a field cannot be told apart from a
file without a final line break.) A NUL byte in a text file is refused with the row and column it is in.

Memory: CSV and JSON Lines are read through `io.TextIOWrapper` in chunks; a physical line longer than a
bound derived from `max_field_bytes` is refused without being held in memory. XLSX is a zip of XML parts
that can inflate a thousandfold: every part is read through a guard that bounds what it inflates to (see
`XlsxLimits`), and the worksheet is parsed row by row, each row bounded before it is complete, and dropped
once read. openpyxl parses the cells and keeps the workbook's shared-strings table in memory.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

from xinyidai.kit.errors import InvalidInput

__all__ = ["MAX_COLUMNS", "FileRejected", "FileWarning", "Reader", "Row", "XlsxLimits", "odd_record",
           "open_delivery"]

SAMPLE_BYTES = 1 << 20  # encoding detection looks at the first 1 MiB
_CHUNK = 1 << 16  # text decoding chunk
LINE_SLACK = 1 << 16
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .xls, and password-protected .xlsx
_GB18030_BOM = b"\x84\x31\x95\x33"
_DELIMITERS = (",", "\t", ";", "|")
MAX_COLUMNS = 256  # columns a row may have when the caller names no limit (loading passes the catalogue's)
# Encodings in which a 0x00 byte can only be a NUL character: checked on the bytes, as they stream past.
_BYTE_ENCODINGS = {"utf-8", "utf-8-sig", "gb18030"}
# Control bytes that no text file holds (all but tab, line feed, vertical tab, form feed and carriage return).
_BINARY_CONTROLS = bytes([*range(1, 9), *range(14, 32)])
# How a decoder says the input ended inside a character.
_CUT_CHARACTER = {"unexpected end of data", "incomplete multibyte sequence", "truncated data"}
_QUOTED = re.compile(r'"[^"]*"')

# Marks undecodable bytes when looking for the row an encoding error is in. A lone surrogate never comes out
# of a successful strict decode in any encoding we use, so it cannot be confused with real content.
_MARK = "\udcff"
_MARK_HANDLER = "xinyidai.readers.mark"
codecs.register_error(_MARK_HANDLER, lambda exc: (_MARK, exc.end))

_FORMATS_BY_EXT = {
    ".csv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}


# --------------------------------------------------------------------------------------------------------
# Public types


class FileRejected(InvalidInput):
    """The whole file cannot be read. `code` is specific (FILE_ENCODING, CSV_QUOTING, …); `row_no` is
    where it happened, counted as in the module docstring, or None."""

    code = "FILE_REJECTED"
    message = "文件无法读取"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        row_no: int | None = None,
        detail: Any = None,
    ) -> None:
        self.row_no = row_no
        if detail is None and row_no is not None:
            detail = {"row_no": row_no}
        super().__init__(message, detail=detail, code=code)


@dataclass(frozen=True)
class Row:
    """One data row. `values` is aligned with `Reader.headers`; values are stripped and empty or
    whitespace-only values are None. When `problem` is set the row's structure is wrong and the caller
    rejects it (the values are then best-effort)."""

    # No slots on purpose: the CSV hot path builds rows by filling `__dict__` (as `copy`/`pickle` do),
    # which is three times faster than the frozen `__init__` (an `object.__setattr__` call per field).
    row_no: int
    values: list[str | None]
    problem: str | None = None
    problem_code: str | None = None
    problem_field: str | None = None  # the column(s) the problem is in, when it is in particular cells


@dataclass
class FileWarning:
    code: str
    message: str


class Reader:
    """A delivery file opened for reading. Use as a context manager, or call `close()`."""

    format: str = ""
    encoding: str | None = None

    def __init__(self) -> None:
        self.headers: list[str] = []
        self.warnings: list[FileWarning] = []
        self._started = False

    def rows(self) -> Iterator[Row]:
        """The data rows, lazily, in file order. Single pass: a second call raises RuntimeError."""
        if self._started:
            raise RuntimeError("Reader.rows() can only be iterated once")
        self._started = True
        return self._rows()

    def _rows(self) -> Iterator[Row]:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_delivery(
    path: Path | str,
    filename: str | None = None,
    *,
    max_field_bytes: int = 1_000_000,
    sheet: str | None = None,
    max_columns: int = MAX_COLUMNS,
    xlsx_limits: XlsxLimits | None = None,
) -> Reader:
    """Open a delivery file. The format comes from the extension of `filename` (the name it was uploaded
    under) or else of `path`, and failing that from the first bytes. `sheet` picks an XLSX worksheet by
    name (the first worksheet otherwise). Raises FileRejected if the file cannot be read at all.

    `max_columns` bounds the header's width and, in a workbook, the cells of a row and the column of any
    value (a row of an XLSX file can hold millions of cells in a few kilobytes of zip); `xlsx_limits` bounds
    what a workbook's parts may inflate to.

    `max_field_bytes` bounds one CSV field and one JSON line. It is applied to decoded characters (it is the
    csv module's `field_size_limit`, which is process-wide: a CSV reader sets it and restores it on close),
    so Chinese text, three bytes a character in UTF-8, may be up to three times larger in bytes."""
    path = Path(path)
    ext = Path(filename or path.name).suffix.lower()
    if ext == ".xls":
        raise FileRejected(
            "不支持旧版 Excel 97-2003 工作簿（.xls）。请在 Excel 中“另存为” Excel 工作簿（.xlsx）"
            "或 CSV（UTF-8）格式后重新报送。",
            code="UNSUPPORTED_FORMAT",
        )
    with path.open("rb") as f:
        head = f.read(8192)
    if not head:
        raise FileRejected("文件是空的（0 字节），请检查导出结果后重新报送。", code="FILE_EMPTY")
    if head.startswith(_OLE2_MAGIC):
        raise FileRejected(
            "文件是旧版 Excel（.xls）或设置了打开密码的 Excel 工作簿，无法读取。请取消密码保护，"
            "并另存为 Excel 工作簿（.xlsx）或 CSV（UTF-8）格式后重新报送。",
            code="UNSUPPORTED_FORMAT",
        )
    fmt = _FORMATS_BY_EXT.get(ext)
    warnings: list[FileWarning] = []
    if head.startswith(_ZIP_MAGIC):
        if fmt not in (None, "xlsx"):
            warnings.append(
                FileWarning("FORMAT_MISMATCH", f"文件扩展名为 {ext}，但内容是 Excel 工作簿，已按 XLSX 读取。")
            )
        fmt = "xlsx"
    elif fmt is None:
        fmt = "jsonl" if _sniff_text(head).startswith("{") else "csv"

    reader: Reader
    if fmt == "xlsx":
        reader = _XlsxReader(path, sheet, max_columns, xlsx_limits or XlsxLimits())
    elif fmt == "jsonl":
        reader = _JsonlReader(path, max_field_bytes, max_columns)
    else:
        reader = _CsvReader(path, max_field_bytes, max_columns)
    reader.warnings[:0] = warnings
    return reader


# --------------------------------------------------------------------------------------------------------
# Helpers


def _n(n: int) -> str:
    return f"{n:,}"


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.3g} MB"
    if n >= 1000:
        return f"{n / 1000:.3g} KB"
    return f"{n} 字节"


_new = object.__new__


def make_row(row_no: int, values: list[str | None], problem: str | None = None, code: str | None = None,
         field: str | None = None) -> Row:
    row = _new(Row)
    d = row.__dict__
    d["row_no"] = row_no
    d["values"] = values
    if problem is not None:
        d["problem"] = problem
        d["problem_code"] = code
        d["problem_field"] = field
    return row


def _sniff_text(head: bytes) -> str:
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(enc, "ignore").lstrip()
    return head.decode("latin-1").lstrip()


def _detect_encoding(f: BinaryIO) -> str:
    """UTF-8/16/32 by BOM; else strict UTF-8 if the first MiB decodes; else GB18030 (a superset of GBK).

    The sample is decoded in pieces with an incremental decoder, so a character cut by the end of the
    sample is not an error (only the end of the file is decoded with final=True), and the sample is never
    held in memory as a whole."""
    f.seek(0)
    head = f.read(8192)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(_GB18030_BOM):
        return "gb18030"
    if b"\x00" in head:
        utf16 = _utf16_without_bom(head)
        if utf16:
            raise FileRejected(
                f"文件是没有 BOM（字节顺序标记）的 {utf16} 编码文本，无法可靠地识别。请在原程序中另存为 "
                "CSV（UTF-8）后重新报送。",
                code="UNSUPPORTED_FORMAT",
            )
        if len(head) - len(head.translate(None, _BINARY_CONTROLS)) >= max(2, len(head) // 200):
            raise FileRejected(
                "文件含有二进制内容，不是可读取的文本文件。请另存为 CSV（UTF-8）、JSON Lines 或 Excel 工作簿"
                "（.xlsx）后重新报送。",
                code="UNSUPPORTED_FORMAT",
            )
        # Text with a stray NUL: read on, and the reader refuses it naming the row and column it is in.
    if _decodes_as_utf8(f, "strict") is not None:
        return "utf-8"
    good, bad = _decodes_as_utf8(f, "replace") or (0, 0)
    if good >= 20 and bad * 20 <= good:
        # Plenty of valid UTF-8 and a few bad bytes: a UTF-8 file with a defect, not GBK. Reading it as
        # GB18030 would silently turn every Chinese character into mojibake; reading it as UTF-8 rejects
        # it at the bad row instead.
        return "utf-8"
    return "gb18030"


def _utf16_without_bom(head: bytes) -> str | None:
    """"UTF-16LE"/"UTF-16BE" when the sample looks like UTF-16 text without a BOM: zero bytes on one side of
    the byte pairs only (the high bytes of ASCII characters), and it decodes to printable text that way."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even, odd = head[0 : pairs * 2 : 2].count(0), head[1 : pairs * 2 : 2].count(0)
    for name, zeros, other in (("UTF-16LE", odd, even), ("UTF-16BE", even, odd)):
        if zeros >= max(2, pairs // 10) and other * 20 <= zeros:
            text = head[: pairs * 2].decode(name.lower(), "replace")
            odd_chars = sum(1 for c in text if not (c.isprintable() or c in "\t\r\n"))
            if odd_chars <= 1 + len(text) // 100:
                return name
    return None


def _decodes_as_utf8(f: BinaryIO, errors: str) -> tuple[int, int] | None:
    """Decode the first SAMPLE_BYTES as UTF-8: (valid non-ASCII characters, U+FFFD count), or None if
    that fails under `errors`."""
    f.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    remaining = SAMPLE_BYTES
    good = bad = 0
    try:
        while True:
            piece = f.read(min(_CHUNK, remaining))
            remaining -= len(piece)
            final = not piece or (remaining == 0 and not f.read(1))
            text = decoder.decode(piece, final=final)
            if errors != "strict":
                n_bad = text.count("\ufffd")
                bad += n_bad
                good += len(text) - len(text.encode("ascii", "ignore")) - n_bad
            if final or remaining == 0:
                return good, bad
    except UnicodeDecodeError as exc:
        if exc.reason in _CUT_CHARACTER and final:
            return good, bad  # UTF-8 all through, cut inside its last character: the reader says so
        return None


def _newline_tails(encoding: str, sample: bytes) -> tuple[bytes, ...]:
    if encoding == "utf-16":
        return (b"\n\x00", b"\r\x00") if sample.startswith(codecs.BOM_UTF16_LE) else (b"\x00\n", b"\x00\r")
    if encoding == "utf-32":
        if sample.startswith(codecs.BOM_UTF32_LE):
            return (b"\n\x00\x00\x00", b"\r\x00\x00\x00")
        return (b"\x00\x00\x00\n", b"\x00\x00\x00\r")
    return (b"\n", b"\r")


def _encoding_message(encoding: str, row_no: int | None) -> str:
    where = f"第 {_n(row_no)} 行" if row_no else "文件中"
    if encoding.startswith("utf-8"):
        return (
            f"{where}：文件前面部分是 UTF-8 编码，但此处含有不能按 UTF-8 解码的字符，文件可能混用了多种编码"
            "（例如 UTF-8 与 GBK）或已损坏。请将整个文件统一另存为 UTF-8 编码后重新报送。"
        )
    if encoding == "gb18030":
        return (
            f"{where}：此处含有不能按 GBK/GB18030 解码的字节，文件可能混用了多种编码或已损坏。"
            "请将整个文件统一另存为 UTF-8 编码后重新报送。"
        )
    return f"{where}：此处不能按 {encoding.upper()} 解码，文件可能已损坏或被截断。请另存为 UTF-8 编码后重新报送。"


class _LineTooLong(Exception):
    pass


class _NulByte(Exception):
    pass


def _nul_message(row_no: int | None, column: int | None, headers: list[str], detail: str = "") -> str:
    where = f"第 {_n(row_no)} 行" if row_no else "文件中"
    if column is not None:
        where += f"第 {column + 1} 列" + (f"（「{headers[column]}」）" if column < len(headers) else "")
    return (
        f"{where}{detail}含有空字符（NUL，字节 0x00）。文本文件中不应出现空字符：文件可能已损坏，或是导出程序留下的"
        "填充字节。整个文件未接收，请检查该处后重新报送。"
    )


def _cut_message(row_no: int | None) -> str:
    where = f"第 {_n(row_no)} 行" if row_no else "文件末尾"
    return (
        f"{where}：文件在一个字符的中间结束（最后一个字符不完整），文件在此处被截断。整个文件未接收，"
        "请重新导出完整的文件后报送。"
    )


class _LineGuard(io.BufferedIOBase):
    """Binary stream under the TextIOWrapper that refuses a run of more than `limit` bytes without a line
    break, so that a giant line (or a file that is not text) is never assembled in memory. It looks at
    whole chunks with C-level `rfind`, so it costs nothing per line; a line can exceed the limit by at most
    two chunks before it is caught."""

    def __init__(self, raw: BinaryIO, limit: int, nul: bool = False) -> None:
        super().__init__()
        self._raw = raw
        self.limit = limit
        self._run = 0
        self._nul = nul  # refuse a 0x00 byte (in an encoding where it can only be a NUL character)

    def readable(self) -> bool:
        return True

    def _check(self, data: bytes) -> bytes:
        if self._nul and b"\x00" in data:
            raise _NulByte()
        nl = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if nl < 0:
            self._run += len(data)
            if self._run > self.limit:
                raise _LineTooLong()
        else:
            self._run = len(data) - nl - 1
        return data

    def read1(self, size: int = -1) -> bytes:
        return self._check(self._raw.read1(size if size >= 0 else _CHUNK))

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return self._check(self._raw.read(size))
        parts = []
        while piece := self.read1(_CHUNK):
            parts.append(piece)
        return b"".join(parts)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _TextFile:
    """Shared part of the CSV and JSON Lines readers: encoding detection and the text stream."""

    def _open_detect(self, path: Path) -> None:
        self._path = path
        with path.open("rb") as f:
            self.encoding = _detect_encoding(f)
            f.seek(0)
            head = f.read(4)
            size = f.seek(0, io.SEEK_END)
            f.seek(max(size - 4, 0))
            tail = f.read()
        self._unterminated = not tail.endswith(_newline_tails(self.encoding, head))

    def _text(self, limit: int, errors: str = "strict", nul: bool = True) -> io.TextIOWrapper:
        raw = self._path.open("rb")
        guard = _LineGuard(raw, limit, nul=nul and self.encoding in _BYTE_ENCODINGS)
        t = io.TextIOWrapper(guard, encoding=self.encoding, errors=errors, newline="")
        t._CHUNK_SIZE = _CHUNK  # type: ignore[attr-defined]
        return t

    def _refuse_decoded_nul(self) -> None:
        """UTF-16 and UTF-32 hold 0x00 bytes in every ASCII character: look for a NUL character in the text
        instead, in one pass before reading (such files are rare, and small)."""
        if self.encoding in _BYTE_ENCODINGS:
            return
        t = self._text(1 << 62, errors="replace", nul=False)
        try:
            while piece := t.read(_CHUNK):
                if "\x00" in piece:
                    raise _NulByte()
        finally:
            t.close()


# --------------------------------------------------------------------------------------------------------
# CSV


class _CsvReader(_TextFile, Reader):
    format = "csv"

    def __init__(self, path: Path, max_field_bytes: int, max_columns: int = MAX_COLUMNS) -> None:
        Reader.__init__(self)
        self._max_field = self.max_field = max_field_bytes
        self._max_columns = max_columns
        self._open_detect(path)
        # The csv module's field limit is process-wide: set it for this reader, restore it on close.
        self._prev_limit: int | None = csv.field_size_limit(max_field_bytes)
        self._t = self._text(max_field_bytes + LINE_SLACK)
        try:
            try:
                self._refuse_decoded_nul()
            except _NulByte as exc:
                raise self._translate(exc, 1) from None
            self._read_header()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._t.close()
        if self._prev_limit is not None:
            csv.field_size_limit(self._prev_limit)
            self._prev_limit = None

    def _read_header(self) -> None:
        t = self._t
        rn = 0
        try:
            while True:
                line = t.readline()
                if not line:
                    raise FileRejected(
                        "文件没有内容（只有空行）。请检查导出结果后重新报送。", code="FILE_EMPTY"
                    )
                rn += 1
                if line.strip().strip("\ufeff"):
                    break
            self._dialect = _dialect_for(line)
            self.delimiter = self._dialect["delimiter"]
            header = next(csv.reader(chain((line,), t), **self._dialect))
        except (csv.Error, UnicodeDecodeError, _LineTooLong, _NulByte) as exc:
            raise self._translate(exc, rn) from None
        names = [h.strip() for h in header]
        if names:
            names[0] = names[0].lstrip("\ufeff").strip()
        self._header_row = self.header_row = rn
        self.headers = _check_headers(names, rn, self._max_columns)
        # A line may hold every column at its maximum size; beyond that some field must be too large.
        self._t.buffer.limit = self._max_field * max(len(names), 1) + LINE_SLACK

    def _translate(self, exc: BaseException, row_no: int) -> FileRejected:
        if isinstance(exc, UnicodeDecodeError):
            found = self._locate_bad_bytes()
            if exc.reason in _CUT_CHARACTER and self._unterminated:
                return FileRejected(_cut_message(found or row_no), code="FILE_TRUNCATED", row_no=found or row_no)
            return FileRejected(
                _encoding_message(self.encoding or "", found or row_no),
                code="FILE_ENCODING",
                row_no=found or row_no,
            )
        if isinstance(exc, _NulByte):
            row, column, header = self._locate("\x00") or (row_no, None, [])
            return FileRejected(_nul_message(row, column, header), code="NUL_BYTE", row_no=row)
        if isinstance(exc, _LineTooLong):
            return FileRejected(
                f"第 {_n(row_no)} 行有字段超过 {_size(self._max_field)} 上限（该行超过 "
                f"{_size(self._t.buffer.limit)} 仍没有换行；文件也可能不是 CSV 格式）。请检查该行后重新报送。",
                code="FIELD_TOO_LARGE",
                row_no=row_no,
            )
        text = str(exc)
        if "field larger than field limit" in text:
            return FileRejected(
                f"第 {_n(row_no)} 行有字段超过 {_size(self._max_field)} 上限。请检查该行（常见原因是引号未闭合，"
                "使后面的内容都被当成同一个字段）后重新报送。",
                code="FIELD_TOO_LARGE",
                row_no=row_no,
            )
        if "unexpected end of data" in text:
            return FileRejected(
                f"第 {_n(row_no)} 行：引号未闭合，从此行开始的带引号字段直到文件末尾都没有结束，"
                "文件可能被截断或引号使用错误。请检查该行后重新报送。",
                code="FILE_TRUNCATED",
                row_no=row_no,
            )
        return FileRejected(
            f"第 {_n(row_no)} 行：引号使用错误（右引号后面紧跟了分隔符以外的字符），文件可能被截断或引号使用错误。"
            '字段内的引号应写成两个双引号（""）。请检查该行后重新报送。',
            code="CSV_QUOTING",
            row_no=row_no,
        )

    def _locate_bad_bytes(self) -> int | None:
        """Second pass, marking undecodable bytes instead of failing, to find the record they are in
        (the text layer decodes ahead in chunks, so the failure itself can surface a few rows early)."""
        found = self._locate(_MARK)
        return found[0] if found else None

    def _locate(self, mark: str) -> tuple[int, int, list[str]] | None:
        """The record (row number) and field (index) where `mark` first occurs, and the header's names when it
        is below the header, in a second pass that marks undecodable bytes instead of failing and lets NUL
        bytes through."""
        t = self._text(1 << 62, errors=_MARK_HANDLER, nul=False)
        try:
            dialect = getattr(self, "_dialect", None)
            source: Iterator[str] = t
            if dialect is None:  # the failure came before the header was parsed: find it the same way
                leading: list[str] = []
                while True:
                    line = t.readline()
                    if not line:
                        return None
                    leading.append(line)
                    if line.strip().strip("\ufeff"):
                        break
                dialect = _dialect_for(line)
                source = chain(leading, t)
            header: list[str] | None = None
            for rn, rec in enumerate(csv.reader(source, **dialect), 1):
                if mark in "".join(rec):
                    return rn, next(i for i, v in enumerate(rec) if mark in v), header or []
                if header is None and any(v.strip() for v in rec):
                    header = [v.strip().lstrip("\ufeff") for v in rec]
        except (csv.Error, _LineTooLong):
            return None
        finally:
            t.close()
        return None

    def _rows(self) -> Iterator[Row]:
        csv.field_size_limit(self._max_field)
        ncols = len(self.headers)
        rn = self._header_row  # the record number of the last record read
        start = rn + 1
        base = csv.reader(self._t, **self._dialect)
        it: Iterator[list[str]] = base
        new = _new
        row_cls = Row
        check_last = self._unterminated
        try:
            while True:
                for rn, rec in enumerate(it, start):
                    if len(rec) == ncols:  # hot path
                        vals = [v.strip() or None for v in rec]
                        if vals[0] is None and not any(vals):
                            continue
                        row = new(row_cls)
                        d = row.__dict__
                        d["row_no"] = rn
                        d["values"] = vals
                        yield row
                        continue
                    if not rec:
                        continue  # blank line
                    vals = [v.strip() or None for v in rec]
                    if len(vals) < ncols and check_last and any(vals):
                        nxt = next(it, None)
                        row = odd_record(rn, vals, ncols, last_unterminated=nxt is None)
                        yield row  # type: ignore[misc]
                        if nxt is None:
                            return
                        it = chain((nxt,), base)
                        start = rn + 1
                        break
                    row = odd_record(rn, vals, ncols)
                    if row is not None:
                        yield row
                else:
                    return
        except (csv.Error, UnicodeDecodeError, _LineTooLong, _NulByte) as exc:
            raise self._translate(exc, rn + 1) from None
        finally:
            self.close()


def odd_record(rn: int, vals: list[str | None], ncols: int, last_unterminated: bool = False) -> Row | None:
    """A record (values already stripped) whose width is not the header's: None when it is blank, the
    row trimmed when only empty columns stick out, else a COLUMN_COUNT problem. The short last line of a file
    that does not end with a line break is where the file was cut: FileRejected (FILE_TRUNCATED), as nothing
    of a cut file is taken. Shared with the vectorised reader."""
    if not any(vals):
        return None
    n = len(vals)
    if n > ncols and not any(vals[ncols:]):
        return make_row(rn, vals[:ncols])  # trailing empty columns
    if n < ncols and last_unterminated:
        raise FileRejected(
            f"第 {_n(rn)} 行只有 {n} 列（表头有 {ncols} 列），且是文件的最后一行、没有换行结尾：文件在此行中途被"
            "截断。整个文件未接收，请重新导出完整的文件后报送。",
            code="FILE_TRUNCATED",
            row_no=rn,
        )
    problem = f"第 {_n(rn)} 行有 {n} 列，表头有 {ncols} 列"
    if n < ncols:
        vals.extend([None] * (ncols - n))
    else:
        del vals[ncols:]
    return make_row(rn, vals, problem, "COLUMN_COUNT")


def _dialect_for(line: str) -> dict[str, Any]:
    """The delimiter that occurs most often in the header line outside quotes (ties: , tab ; |)."""
    probe = _QUOTED.sub("", line)
    counts = [probe.count(d) for d in _DELIMITERS]
    best = max(counts)
    delimiter = _DELIMITERS[counts.index(best)] if best else ","
    return {"delimiter": delimiter, "strict": True, "skipinitialspace": True}


def _check_headers(names: list[str], row_no: int, max_columns: int = MAX_COLUMNS) -> list[str]:
    while names and not names[-1]:
        names.pop()  # trailing empty header cells (a spreadsheet's unused columns)
    if not names:
        raise FileRejected(
            f"第 {_n(row_no)} 行（表头）为空，文件第一行应为列名。请补充表头后重新报送。",
            code="NO_HEADER",
            row_no=row_no,
        )
    if len(names) > max_columns:
        raise FileRejected(
            f"第 {_n(row_no)} 行（表头）有 {_n(len(names))} 列，超过 {max_columns} 列的上限（信息清单中最宽的类别"
            "加上可忽略的附加列）。请删除多余的列后重新报送。",
            code="TOO_MANY_COLUMNS",
            row_no=row_no,
        )
    blank = [i + 1 for i, h in enumerate(names) if not h]
    if blank:
        cols = "、".join(f"第 {i} 列" for i in blank)
        raise FileRejected(
            f"第 {_n(row_no)} 行（表头）{cols}的列名为空。请填写列名或删除该列后重新报送。",
            code="BLANK_HEADER",
            row_no=row_no,
        )
    seen: dict[str, list[int]] = {}
    for i, h in enumerate(names, 1):
        seen.setdefault(h, []).append(i)
    dups = {h: cols for h, cols in seen.items() if len(cols) > 1}
    if dups:
        desc = "；".join(f"「{h}」（第 {'、'.join(map(str, cols))} 列）" for h, cols in dups.items())
        raise FileRejected(
            f"第 {_n(row_no)} 行（表头）有重复的列名：{desc}。请删除或重命名重复的列后重新报送。",
            code="DUPLICATE_HEADER",
            row_no=row_no,
        )
    return names


# --------------------------------------------------------------------------------------------------------
# JSON Lines


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs: shows duplicate keys, and tells objects from arrays."""

    __slots__ = ()


class _BadConstant(ValueError):
    pass


def _bad_constant(name: str) -> Any:
    raise _BadConstant(name)


_NESTED = object()

_JSON_MESSAGES = {
    "Expecting value": "缺少值或含有非法字符",
    "Expecting ',' delimiter": "缺少逗号",
    "Expecting ':' delimiter": "缺少冒号",
    "Expecting property name enclosed in double quotes": "字段名必须用双引号括起来",
    "Unterminated string starting at": "字符串缺少结束的双引号",
    "Invalid control character at": "字符串中含有控制字符（如未转义的换行或制表符）",
    "Invalid \\escape": "含有无效的转义符",
    "Invalid \\uXXXX escape": "含有无效的 \\u 转义",
    "Extra data": "一行中含有多个 JSON 值，或对象结束后还有多余内容",
}


def _json_error(line_no: int, exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        reason = _JSON_MESSAGES.get(exc.msg, exc.msg)
        return f"第 {_n(line_no)} 行不是有效的 JSON（第 {exc.colno} 个字符处{reason}）"
    if isinstance(exc, _BadConstant):
        return f"第 {_n(line_no)} 行不是有效的 JSON（{exc.args[0]} 不是标准 JSON 数值）"
    return f"第 {_n(line_no)} 行不是有效的 JSON（{exc}）"


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "数组"
    if isinstance(value, str):
        return "字符串"
    if isinstance(value, bool) or value is None:
        return "常量"
    return "数值"


class _JsonlReader(_TextFile, Reader):
    format = "jsonl"

    def __init__(self, path: Path, max_field_bytes: int, max_columns: int = MAX_COLUMNS) -> None:
        Reader.__init__(self)
        self._limit = max(max_field_bytes, 16)
        self._max_columns = max_columns
        self._open_detect(path)
        self._t = self._text(1 << 62)
        try:
            try:
                self._refuse_decoded_nul()
            except _NulByte:
                raise self._nul_rejected() from None
            self._lines = self._physical_lines(self._t)
            self._read_first()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._t.close()

    def _physical_lines(self, t: io.TextIOWrapper) -> Iterator[tuple[int, str | None]]:
        """(line number, text) for each physical line; text is None for a line over the limit, which is
        skipped in pieces rather than held in memory."""
        readline = t.readline
        limit = self._limit
        line_no = 0
        while True:
            line = readline(limit)
            if not line:
                return
            line_no += 1
            if len(line) >= limit and line[-1] not in "\r\n":
                while True:
                    more = readline(limit)
                    if not more or more[-1] in "\r\n":
                        break
                yield line_no, None
            else:
                yield line_no, line

    def _loads(self, text: str) -> Any:
        return json.loads(
            text, object_pairs_hook=_Pairs, parse_int=str, parse_float=str, parse_constant=_bad_constant
        )

    def _next_line(self) -> tuple[int, str | None]:
        try:
            return next(self._lines)
        except UnicodeDecodeError as exc:
            row_no = self._locate_bad_bytes()
            if exc.reason in _CUT_CHARACTER and self._unterminated:
                raise FileRejected(_cut_message(row_no), code="FILE_TRUNCATED", row_no=row_no) from None
            raise FileRejected(
                _encoding_message(self.encoding or "", row_no),
                code="FILE_ENCODING",
                row_no=row_no,
            ) from None
        except _NulByte:
            raise self._nul_rejected() from None

    def _nul_rejected(self) -> FileRejected:
        t = self._text(1 << 62, errors=_MARK_HANDLER, nul=False)
        try:
            for line_no, text in self._physical_lines(t):
                if text is not None and "\x00" in text:
                    at = f"第 {text.index(chr(0)) + 1:,} 个字符处"
                    return FileRejected(_nul_message(line_no, None, [], at), code="NUL_BYTE", row_no=line_no)
        finally:
            t.close()
        return FileRejected(_nul_message(None, None, []), code="NUL_BYTE")

    def _read_first(self) -> None:
        while True:
            try:
                line_no, text = self._next_line()
            except StopIteration:
                raise FileRejected(
                    "文件没有内容（只有空行）。请检查导出结果后重新报送。", code="FILE_EMPTY"
                ) from None
            if text is None:
                raise FileRejected(
                    f"第 {_n(line_no)} 行超过 {_size(self._limit)} 上限，无法作为字段来源读取。请检查后重新报送。",
                    code="FIELD_TOO_LARGE",
                    row_no=line_no,
                )
            text = text.lstrip("\ufeff")
            if text.strip():
                break
        stripped = text.strip()
        if stripped.startswith("["):
            raise FileRejected(
                "文件是一个 JSON 数组，不是 JSON Lines 格式。JSON Lines 要求每行一个 JSON 对象，例如："
                '{"名称":"…","日期":"…"}。请转换后重新报送。',
                code="JSON_INVALID",
                row_no=line_no,
            )
        try:
            obj = self._loads(text)
        except ValueError as exc:
            raise FileRejected(
                _json_error(line_no, exc) + "。第一行必须是一个完整的 JSON 对象（JSON Lines 每行一个对象，"
                "不能跨行排版），其字段名作为表头。请检查后重新报送。",
                code="JSON_INVALID",
                row_no=line_no,
            ) from None
        if type(obj) is not _Pairs:
            raise FileRejected(
                f"第 {_n(line_no)} 行是 JSON {_kind(obj)}，不是 JSON 对象。JSON Lines 要求每行一个对象，"
                "其字段名作为表头。请检查后重新报送。",
                code="JSON_INVALID",
                row_no=line_no,
            )
        names = [k.strip() for k, _ in obj]
        if not names:
            raise FileRejected(
                f"第 {_n(line_no)} 行是空对象，无法确定字段。请检查后重新报送。",
                code="NO_HEADER",
                row_no=line_no,
            )
        self.headers = _check_headers(names, line_no, self._max_columns)
        if len(self.headers) != len(names):  # a trailing "" key
            raise FileRejected(
                f"第 {_n(line_no)} 行（表头）有空字段名。请检查后重新报送。",
                code="BLANK_HEADER",
                row_no=line_no,
            )
        self._index = {h: i for i, h in enumerate(self.headers)}
        self._first = (line_no, obj)

    def _locate_bad_bytes(self) -> int | None:
        t = self._text(1 << 62, errors=_MARK_HANDLER, nul=False)
        try:
            for line_no, text in self._physical_lines(t):
                if text is not None and _MARK in text:
                    return line_no
        finally:
            t.close()
        return None

    def _make_row(self, line_no: int, obj: _Pairs) -> Row:
        index = self._index
        vals: list[str | None] = [None] * len(index)
        unknown: list[str] = []
        nested: list[str] = []
        for key, value in obj:
            i = index.get(key)
            if i is None:
                i = index.get(key.strip())
                if i is None:
                    unknown.append(key)
                    continue
            if value is None:
                continue
            t = type(value)
            if t is str:
                vals[i] = value.strip() or None
            elif t is bool:
                vals[i] = "是" if value else "否"
            elif t is _Pairs or t is list:
                nested.append(self.headers[i])
            else:  # not reached: numbers come back as their text (parse_int/parse_float=str)
                vals[i] = str(value)
        problems: list[tuple[str, str]] = []
        if unknown:
            names = "、".join(f"「{k}」" for k in unknown)
            problems.append(("UNKNOWN_KEY", f"第 {_n(line_no)} 行含有第一行对象中没有的字段：{names}"))
        if nested:
            names = "、".join(f"「{k}」" for k in nested)
            problems.append(
                (
                    "NESTED_VALUE",
                    f"第 {_n(line_no)} 行的字段{names}是嵌套的对象或数组，只接受文本、数值、布尔值或 null",
                )
            )
        if len(obj) > 1 and len({k.strip() for k, _ in obj}) != len(obj):
            problems.append(("DUPLICATE_KEY", f"第 {_n(line_no)} 行有重复的字段名"))
        if problems:
            return make_row(line_no, vals, "；".join(m for _, m in problems), problems[0][0])
        return make_row(line_no, vals)

    def _rows(self) -> Iterator[Row]:
        width = len(self.headers)
        loads = self._loads
        try:
            line_no, obj = self._first
            yield self._make_row(line_no, obj)
            while True:
                try:
                    line_no, text = self._next_line()
                except StopIteration:
                    return
                if text is None:
                    yield make_row(
                        line_no,
                        [None] * width,
                        f"第 {_n(line_no)} 行超过 {_size(self._limit)} 上限，未读取",
                        "LINE_TOO_LARGE",
                    )
                    continue
                if text.isspace():
                    continue
                try:
                    obj = loads(text)
                except ValueError as exc:
                    if text[-1] not in "\r\n":  # the last line, and the file ends inside it: cut short
                        raise FileRejected(
                            _json_error(line_no, exc) + "，且是文件的最后一行、没有换行结尾：文件在此行中途被截断。"
                            "整个文件未接收，请重新导出完整的文件后报送。",
                            code="FILE_TRUNCATED",
                            row_no=line_no,
                        ) from None
                    yield make_row(line_no, [None] * width, _json_error(line_no, exc), "JSON_INVALID")
                    continue
                if type(obj) is not _Pairs:
                    yield make_row(
                        line_no,
                        [None] * width,
                        f"第 {_n(line_no)} 行是 JSON {_kind(obj)}，不是 JSON 对象",
                        "JSON_NOT_OBJECT",
                    )
                    continue
                yield self._make_row(line_no, obj)
        finally:
            self.close()


# --------------------------------------------------------------------------------------------------------
# XLSX

_FORMULA = object()


def _cell(v: Any) -> Any:
    """An openpyxl cell value as text; _FORMULA for a formula (never evaluated, never passed on)."""
    if v is None:
        return None
    t = type(v)
    if t is str:
        if v[:1] == "=":
            return _FORMULA
        return v.strip() or None
    if t is int:
        return str(v)
    if t is float:
        return str(int(v)) if v.is_integer() else repr(v)
    if t is bool:
        return "是" if v else "否"
    if isinstance(v, datetime):
        if v.microsecond:
            v = (v + timedelta(microseconds=500_000)).replace(microsecond=0)
        day = f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
        if v.hour or v.minute or v.second:
            return f"{day} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        return day
    if isinstance(v, date):
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if isinstance(v, time):
        return f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if isinstance(v, timedelta):
        return str(v)
    if isinstance(v, float):
        return _cell(float(v))
    if isinstance(v, int):
        return str(int(v))
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    if isinstance(v, ArrayFormula | DataTableFormula):
        return _FORMULA
    return str(v).strip() or None


_XLSX_INVALID = (
    "文件不是有效的 XLSX 工作簿，可能已损坏或被截断。请在 Excel 中重新打开并另存为 .xlsx 后重新报送。"
)
_XLSX_MAX_ROWS = 1_048_576  # Excel's own limit: no workbook a spreadsheet program writes has more
_SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_ROW_TAG = f"{{{_SHEET_NS}}}row"
_CELL_TAG = f"{{{_SHEET_NS}}}c"
_DOCTYPE = b"<!DOCTYPE"
_XML_ENCODING = re.compile(rb"\A(?:\xef\xbb\xbf)?<\?xml[^>]*?\sencoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_XML_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}


@dataclass(frozen=True)
class XlsxLimits:
    """What a workbook may inflate to. An XLSX file is a zip of XML parts, and a zip of a few megabytes can
    inflate to gigabytes (a decompression bomb): these bounds are checked before a part is inflated (its
    declared size), while it is (bytes and tags counted as they come: a declared size can lie) and while a
    worksheet row is parsed (before the row is complete). Workbooks that spreadsheet programs write stay far
    inside them. Whatever a file holds, memory stays under about a gigabyte, most of it the shared strings
    (which openpyxl keeps as a table, with an element per string); a worksheet costs a few MB."""

    sheet_bytes: int = 2 << 30  # the worksheet: streamed, so this bounds the time spent, not the memory
    strings_bytes: int = 256 << 20  # the shared strings, which openpyxl keeps in memory as a table
    strings_tags: int = 8_000_000
    part_bytes: int = 32 << 20  # any other part openpyxl reads (workbook, styles, relationships): parsed whole
    part_tags: int = 1_000_000
    total_bytes: int = 4 << 30  # everything inflated from one file
    row_bytes: int = 64 << 20  # one row's XML
    row_tags: int = 32  # elements one row may hold per column allowed (a cell takes 2 to 4; rich text more)
    text_bytes: int = 16 << 20  # one run of bytes without markup: one text, or one tag with its attributes
    entries: int = 10_000  # parts in the zip's directory (zipfile builds an object for each before reading)


def _too_large(message: str) -> FileRejected:
    return FileRejected(
        message + "文件可能是恶意构造的压缩炸弹，或内容远超正常报送的规模。整个文件未接收；如确为正常数据，请拆分后"
        "或另存为 CSV（UTF-8）重新报送。",
        code="XLSX_TOO_LARGE",
    )


def _zip_entries(f: BinaryIO) -> int | None:
    """How many parts the zip directory lists, from its end record (zip64 too); None without one (zipfile
    then says the file is no zip)."""
    size = f.seek(0, io.SEEK_END)
    f.seek(max(0, size - 22 - 0xFFFF))
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    locator = at - 20
    if entries == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        f.seek(int.from_bytes(tail[locator + 8 : locator + 16], "little"))
        record = f.read(56)
        if record[:4] == b"PK\x06\x06":
            entries = int.from_bytes(record[32:40], "little")
    return entries


class _Part:
    """One part of a workbook, inflated in pieces of at most 64 KB, each counted and checked before the XML
    parser sees it: the part's and the file's inflated bytes, runs of text, tags (for a part that openpyxl
    keeps in memory), and what no spreadsheet program writes and the byte counts could not see past: a
    document type declaration (its entities expand inside the parser), or an encoding other than UTF-8."""

    def __init__(self, raw: Any, name: str, archive: _Archive, max_bytes: int, max_tags: int | None) -> None:
        self._raw = raw
        self.name = name
        self._archive = archive
        self._max_bytes = max_bytes
        self._max_tags = max_tags
        self.inflated = 0
        self._tags = 0
        self._run = 0  # bytes since the last "<"
        self._seam = b""  # the end of the previous piece, for a marker cut in two

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        data = self._raw.read(min(size, _CHUNK))
        if data:
            self._check(data)
        return data

    def _check(self, data: bytes) -> None:
        limits = self._archive.limits
        if not self.inflated:
            declared = _XML_ENCODING.match(data)
            if declared and declared.group(1).lower() not in _XML_ENCODINGS:
                raise FileRejected(f"工作簿的部件 {self.name} 使用 {declared.group(1).decode()} 编码，"
                                   "电子表格程序只写 UTF-8，无法安全读取。" + _XLSX_INVALID, code="XLSX_INVALID")
        n = len(data)
        self.inflated += n
        self._archive.inflated += n
        if self.inflated > self._max_bytes:
            raise _too_large(f"工作簿的部件 {self.name} 解压后超过 {_size(self._max_bytes)}。")
        if self._archive.inflated > limits.total_bytes:
            raise _too_large(f"工作簿解压后的内容超过 {_size(limits.total_bytes)}。")
        if b"\x00" in data:  # UTF-16 or UTF-32 XML, or no XML at all
            raise FileRejected(f"工作簿的部件 {self.name} 不是 UTF-8 编码的 XML。" + _XLSX_INVALID, code="XLSX_INVALID")
        if _DOCTYPE in data or _DOCTYPE in self._seam + data[:16]:
            raise FileRejected(f"工作簿的部件 {self.name} 含有文档类型声明（DTD），电子表格程序不会写入，出于安全原因"
                               "不予读取。" + _XLSX_INVALID, code="XLSX_INVALID")
        self._seam = data[-16:]
        lt = data.rfind(b"<")
        self._run = self._run + n if lt < 0 else n - lt - 1
        if self._run > limits.text_bytes:
            raise _too_large(f"工作簿的部件 {self.name} 中有一段超过 {_size(limits.text_bytes)} 的文字或标记。")
        if self._max_tags is not None:
            self._tags += data.count(b"<")
            if self._tags > self._max_tags:
                raise _too_large(f"工作簿的部件 {self.name} 含有超过 {_n(self._max_tags)} 个标记。")

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Part:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Archive(zipfile.ZipFile):
    """A workbook's zip as openpyxl reads it: every part goes through a `_Part`, with the bounds for what
    openpyxl keeps — a part it reads whole (`read`: workbook, styles, relationships), or one it streams while
    the workbook loads (the shared strings). The worksheet is opened with `sheet`."""

    def __init__(self, file: BinaryIO, limits: XlsxLimits) -> None:
        super().__init__(file)
        self.limits = limits
        self.inflated = 0  # over all parts
        self._whole = False

    def read(self, name: Any, pwd: bytes | None = None) -> bytes:
        self._whole = True
        try:
            return super().read(name, pwd)
        finally:
            self._whole = False

    def open(self, name: Any, mode: str = "r", pwd: bytes | None = None, *, force_zip64: bool = False) -> Any:
        if mode != "r":
            raise ValueError("a delivered workbook is only read")
        lim = self.limits
        if self._whole:
            return self._part(name, pwd, lim.part_bytes, lim.part_tags)
        return self._part(name, pwd, lim.strings_bytes, lim.strings_tags)

    def sheet(self, name: str) -> _Part:
        return self._part(name, None, self.limits.sheet_bytes, None)

    def _part(self, name: Any, pwd: bytes | None, max_bytes: int, max_tags: int | None) -> _Part:
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        if info.file_size > max_bytes:  # refused before inflating anything
            raise _too_large(f"工作簿的部件 {info.filename} 声明解压后为 {_size(info.file_size)}，超过 "
                             f"{_size(max_bytes)} 的上限。")
        return _Part(super().open(info, "r", pwd), info.filename, self, max_bytes, max_tags)


class _XlsxReader(Reader):
    """A workbook read with openpyxl's parsers, but not its read-only worksheets: those scan a sheet whole at
    load when it lacks a <dimension>, keep an element per row until the end, and build a whole row before
    anything can look at it. Here every part goes through `_Archive`, and the rows come from `_sheet_rows`."""

    format = "xlsx"
    encoding = None

    def __init__(self, path: Path, sheet: str | None, max_columns: int = MAX_COLUMNS,
                 limits: XlsxLimits | None = None) -> None:
        Reader.__init__(self)
        self._max_columns = max_columns
        self._limits = limits or XlsxLimits()
        self._f = path.open("rb")
        self._archive: _Archive | None = None
        self._row_no = 0  # the row being read, for messages
        try:
            self._open(sheet)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._archive is not None:
            with contextlib.suppress(Exception):  # closing a broken archive must not mask the real error
                self._archive.close()
            self._archive = None
        self._f.close()

    def _load(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Load the workbook's shared strings, styles and list of sheets (not the sheets): the names of all
        sheets, and (name, part) of each worksheet."""
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.styles.stylesheet import apply_stylesheet
        from openpyxl.worksheet._reader import WorkSheetParser

        entries = _zip_entries(self._f)
        if entries is not None and entries > self._limits.entries:
            raise _too_large(f"工作簿含有 {_n(entries)} 个部件，超过 {_n(self._limits.entries)} 个的上限。")
        self._f.seek(0)
        book = ExcelReader(self._f, read_only=True, keep_links=False)
        book.archive = self._archive = _Archive(self._f, self._limits)  # every part openpyxl reads, guarded
        book.valid_files = book.archive.namelist()
        book.read_manifest()
        book.read_strings()
        book.read_workbook()
        apply_stylesheet(book.archive, book.wb)
        wb = book.wb
        # openpyxl's cell parser: shared strings, numbers, dates by their number format, formulas.
        self._cells = WorkSheetParser(None, book.shared_strings, data_only=False, epoch=wb.epoch,
                                      date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        found = [(s.name, rel) for s, rel in book.parser.find_sheets() if rel.target in book.valid_files]
        return [n for n, _ in found], [(n, rel.target) for n, rel in found if "chartsheet" not in rel.Type]

    def _open(self, sheet: str | None) -> None:
        try:
            names, worksheets = self._load()
        except (FileRejected, MemoryError):
            raise
        except Exception:  # zipfile, XML, openpyxl: all mean the same to the user
            raise FileRejected(_XLSX_INVALID, code="XLSX_INVALID") from None
        if not worksheets:
            raise FileRejected("工作簿中没有工作表。请检查后重新报送。", code="XLSX_INVALID")
        title, part = worksheets[0]
        if sheet is not None:
            chosen = [w for w in worksheets if w[0] == sheet]
            if chosen:
                title, part = chosen[0]
            else:
                self.warnings.append(
                    FileWarning(
                        "SHEET_NOT_FOUND",
                        f"工作簿中没有名为「{sheet}」的工作表，已读取第一个工作表「{title}」。",
                    )
                )
        self.sheet = title
        if len(names) > 1:
            others = "、".join(n for n in names if n != title)
            which = "第一个工作表" if title == worksheets[0][0] else "工作表"
            self.warnings.append(
                FileWarning(
                    "EXTRA_SHEETS",
                    f"工作簿含 {len(names)} 个工作表，仅读取{which}「{title}」，已忽略：{others}",
                )
            )
        self._it = self._guarded(self._sheet_rows(part))
        for row_no, raw in self._it:
            vals = [_cell(v) for v in raw]
            if any(vals):
                rn = row_no
                break
        else:
            raise FileRejected("工作表「" + title + "」没有内容。请检查后重新报送。", code="FILE_EMPTY")
        formulas = [i for i, v in enumerate(vals, 1) if v is _FORMULA]
        if formulas:
            raise FileRejected(
                f"第 {_n(rn)} 行（表头）第 {'、'.join(map(str, formulas))} 列为公式。出于安全原因不接收公式，"
                "请粘贴为数值后重新报送。",
                code="FORMULA",
                row_no=rn,
            )
        self._header_row = rn
        self.headers = _check_headers([v or "" for v in vals], rn, self._max_columns)

    def _guarded(self, rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
        """The rows, with any failure of the parser but ours (FileRejected) said as a broken workbook at the
        row where it happened."""
        try:
            yield from rows
        except (FileRejected, MemoryError):
            raise
        except Exception:
            rn = self._row_no + 1
            raise FileRejected(f"第 {_n(rn)} 行附近：" + _XLSX_INVALID, code="XLSX_INVALID", row_no=rn) from None

    def _sheet_rows(self, part: str) -> Iterator[tuple[int, list[Any]]]:
        """(row number, cell values) for each row of the worksheet, one row parsed at a time. Every element is
        dropped once read, and a row's cells, elements and bytes are counted as they arrive, so a hostile row
        is refused long before it is built."""
        assert self._archive is not None
        limits, max_cells = self._limits, self._max_columns
        max_tags = limits.row_tags * max_cells
        max_pieces = limits.row_bytes // _CHUNK + 1
        pull = ET.XMLPullParser(events=("start", "end"))
        open_elements: list[Any] = []
        cells = tags = pieces = 0  # in the row (or other element of the third level) being read
        with self._archive.sheet(part) as stream:
            while True:
                try:
                    data = stream.read(_CHUNK)
                except FileRejected as exc:
                    raise self._at_row(exc) from None
                if not data:
                    break
                pull.feed(data)
                pieces += 1
                for event, el in pull.read_events():
                    if event == "start":
                        open_elements.append(el)
                        depth = len(open_elements)
                        if depth == 3:  # worksheet > sheetData > row
                            cells = tags = pieces = 0
                            if el.tag == _ROW_TAG:
                                self._next_row(el)
                        elif depth > 3:
                            tags += 1
                            if depth == 4 and el.tag == _CELL_TAG:
                                cells += 1
                                if cells > max_cells:
                                    raise self._too_wide(f"有超过 {max_cells} 个单元格")
                            if tags > max_tags:
                                raise self._row_too_large(f"含有超过 {_n(max_tags)} 个 XML 元素")
                        continue
                    depth = len(open_elements)
                    open_elements.pop()
                    if depth > 3:
                        continue  # part of the row being read
                    if depth == 3 and el.tag == _ROW_TAG:
                        yield self._row_no, self._row_values(el)
                    el.clear()
                    if open_elements:
                        open_elements[-1].remove(el)
                if len(open_elements) >= 3 and pieces > max_pieces:
                    raise self._row_too_large(f"超过 {_size(limits.row_bytes)}")
            pull.close()

    def _next_row(self, el: Any) -> None:
        r = el.get("r")
        row_no = self._row_no + 1 if r is None else int(r) if r.isdigit() else -1
        if not self._row_no < row_no <= _XLSX_MAX_ROWS:
            where = f"第 {_n(self._row_no)} 行之后" if self._row_no else "工作表开头"
            raise FileRejected(f"{where}的行号「{r}」无效（行号须递增且不超过 {_n(_XLSX_MAX_ROWS)}），"
                               "工作表已损坏。" + _XLSX_INVALID, code="XLSX_INVALID", row_no=self._row_no or None)
        self._row_no = row_no

    def _row_values(self, el: Any) -> list[Any]:
        """The row's values by column (openpyxl parses the cells). A value beyond the column limit refuses the
        file; an empty (formatted) cell there is ignored, as spreadsheet programs write them."""
        parser = self._cells
        _, cells = parser.parse_row(el)
        # Kept per row by openpyxl for writing a workbook again; not needed here, and they would grow.
        parser.row_dimensions.clear()
        parser.shared_formulae.clear()  # a cell sharing a formula still reads as "=": a formula all the same
        values: list[Any] = []
        for cell in cells:
            column, value = cell["column"], cell["value"]
            if column > self._max_columns:
                if value is not None and value != "":
                    from openpyxl.utils import get_column_letter

                    raise self._too_wide(f"的 {get_column_letter(column)} 列（第 {_n(column)} 列）有数据")
                continue
            if column > len(values):
                values.extend([None] * (column - len(values)))
            values[column - 1] = value
        return values

    def _too_wide(self, what: str) -> FileRejected:
        return FileRejected(
            f"第 {_n(self._row_no)} 行{what}，超出 {self._max_columns} 列的上限（信息清单中最宽的类别加上可忽略的"
            "附加列）。文件可能是恶意构造的，或含有不属于报送内容的数据。整个文件未接收，请删除多余的列后重新报送。",
            code="TOO_MANY_COLUMNS",
            row_no=self._row_no,
        )

    def _row_too_large(self, what: str) -> FileRejected:
        return FileRejected(
            f"第 {_n(self._row_no)} 行的内容{what}，远超正常的一行数据。文件可能是恶意构造的（如压缩炸弹）。"
            "整个文件未接收，请检查该行后重新报送。",
            code="XLSX_ROW_TOO_LARGE",
            row_no=self._row_no,
        )

    def _at_row(self, exc: FileRejected) -> FileRejected:
        """A part's guard refused the worksheet: say which row it had reached."""
        if not self._row_no:
            return exc
        return FileRejected(f"第 {_n(self._row_no)} 行附近：{exc.message}", code=exc.code, row_no=self._row_no)

    def _rows(self) -> Iterator[Row]:
        from openpyxl.utils import get_column_letter

        headers = self.headers
        ncols = len(headers)
        try:
            for rn, raw in self._it:
                if not raw:
                    continue
                vals = [_cell(v) for v in raw]
                if not any(vals):
                    continue
                problems: list[tuple[str, str]] = []
                formula_field = None
                if _FORMULA in vals:
                    cells = [
                        headers[i] if i < ncols else get_column_letter(i + 1) + " 列"
                        for i, v in enumerate(vals)
                        if v is _FORMULA
                    ]
                    formula_field = "、".join(cells)
                    names = "、".join(f"「{c}」" for c in cells)
                    problems.append(
                        (
                            "FORMULA",
                            f"第 {_n(rn)} 行{names}为公式，出于安全原因不接收公式，请粘贴为数值后重新报送",
                        )
                    )
                    vals = [None if v is _FORMULA else v for v in vals]
                n = len(vals)
                if n < ncols:
                    vals.extend([None] * (ncols - n))
                elif n > ncols:
                    extra = [get_column_letter(i + 1) for i in range(ncols, n) if vals[i] is not None]
                    if extra:
                        problems.append(
                            (
                                "COLUMN_COUNT",
                                f"第 {_n(rn)} 行在表头范围之外（{'、'.join(extra)} 列）有数据，表头只有 {ncols} 列",
                            )
                        )
                    del vals[ncols:]
                if problems:
                    yield make_row(rn, vals, "；".join(m for _, m in problems), problems[0][0], formula_field)
                else:
                    yield make_row(rn, vals)
        finally:
            self.close()
