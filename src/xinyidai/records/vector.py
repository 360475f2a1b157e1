"""Vectorised reading and checking of plain CSV files: the bulk-loading fast path.

Most deliveries are "plain" CSV: UTF-8 or GBK/GB18030 text without a single quote character, NUL byte or bare
carriage return. In such a file a record is exactly a line and a field is exactly the text between two
delimiters, so a chunk of lines can be split, stripped and checked column by column in Polars (Rust) instead
of row by row in Python. What stays per row in Python is the SM3 fingerprint of the canonical JSON (which
Polars builds) and, for the rare rows a vectorised check does not accept outright — a problem, an unusual
format, a value outside the ranges below — the existing `ColumnChecker` path, which calls the item's
converter, the single source of truth. So the outcome (staged rows, issues, messages) is exactly that of
`RowValidator.validate`; tests/records/test_vector.py holds the two paths equal.

What the vectorised checks accept, and why that is exactly what the converters accept and produce:

* string: length and formula prefix, as the converter; JSON is `"` + text + `"` for text without `"`, `\\` or
  control characters (what orjson escapes) — text with those goes to the converter path.
* decimal / integer: plain ASCII digits without leading zeros, at most 15 significant digits and, for
  decimals, 0 or at least 1e-4 in magnitude. In that range a decimal survives the round trip through a double
  unchanged, so the shortest representation orjson and `repr` print is the text itself with trailing fraction
  zeros removed (and ".0" for a whole number).
* every other type (enum, date, month, year, boolean, codes): the converter is called once per distinct
  value in the chunk, and its verdict is mapped back onto the column.

Files that are not plain (or from a chunk that turns out not to be) go through `readers` and `columns`.
Memory is bounded by the chunk size (about `checking.BATCH_ROWS` rows) and the per-column caches.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from xinyidai.records.batches import Batch, Facts, as_copy_text, as_direct, checked_batch
from xinyidai.records.canonical import KEY_SEPARATOR, SM3_PREPARED
from xinyidai.records.columns import ColumnChecker
from xinyidai.records.readers import Reader, make_row, odd_record
from xinyidai.records.validation import NAME_ITEM, Bad, Issue, RowValidator

# Every character Python's str.strip() removes. Spelled out: scanning every code point costs each checking
# process a noticeable part of a second at start-up. Polars' default set (Unicode White_Space) lacks only the
# separators U+001C–U+001F, and stripping with the default set is twice as fast, so a chunk without those
# (nearly every one) strips with it.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_SEPARATORS = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")  # tested one by one: bytes.find is ~80x a regex class here
PLAIN_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "gb18030": "gb18030"}
_NUMBER = r"^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,10})?$"  # no leading zeros: see _number
_INTEGER = r"^-?(?:0|[1-9][0-9]{0,14})$"
_TINY = r"^-?0\.0000"  # below 1e-4 orjson and repr may switch to exponents
# Text that orjson escapes, or that the string converter refuses as a formula.
_STRING_SLOW = r'^[=+\-@]|["\\\x00-\x1f]'
_MAPPED_CACHE = 20_000  # distinct values remembered per column; bounded so memory stays flat
_MAPPED_TYPES = {"enum", "date", "month", "year", "boolean", "region", "industry", "uscc", "id_number"}


# --------------------------------------------------------------------------------------------------------
# Reading: chunks of whole lines


@dataclass
class Chunk:
    """Whole lines of a plain CSV file, still encoded; `first_row` is the row number of the first line."""

    index: int
    first_row: int
    data: bytes
    at_end: bool  # the last chunk of the file
    line_count: int


@dataclass
class NotPlain:
    """From this chunk on the file is not plain: read it with the general reader from `row_no`."""

    index: int
    row_no: int


def plain_eligible(reader: Reader) -> bool:
    """Whether a file may take the fast path at all (the chunks are checked as they are read)."""
    return reader.format == "csv" and reader.encoding in PLAIN_ENCODINGS and len(reader.headers) >= 1


def plain_chunks(path: Path, header_row: int, chunk_bytes: int, max_line: int) -> Iterator[Chunk | NotPlain]:
    """The file's data lines in chunks cut at line ends, in order; a `NotPlain` ends the stream when a chunk
    holds a quote, a NUL, a bare carriage return or a line longer than `max_line` bytes. Every process that
    reads the file sees the same chunks, so they can share the work by chunk index."""
    skip = header_row  # physical lines before the data: blank lines, then the header
    row_no = header_row + 1
    index = 0
    with path.open("rb") as fh:
        carry = b""
        while True:
            block = fh.read(chunk_bytes)
            data = carry + block
            at_end = not block
            if not at_end:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # no line end yet: a long line; keep reading, within bounds
                    if len(data) > max_line:
                        yield NotPlain(index, row_no)
                        return
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            # Checked before the header is skipped: a quoted or CR-terminated header counts lines otherwise.
            if b'"' in data or b"\x00" in data or data.count(b"\r") != data.count(b"\r\n"):
                yield NotPlain(index, row_no)
                return
            if skip:
                data, skip = _skip_lines(data, skip)
            if not data:
                if at_end:
                    return
                continue
            if b"\r" in data:
                data = data.replace(b"\r\n", b"\n")
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            yield Chunk(index, row_no, data, at_end, lines)
            row_no += lines
            index += 1
            if at_end:
                return


def _skip_lines(data: bytes, n: int) -> tuple[bytes, int]:
    pos = 0
    while n:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return b"", n
        pos = nl + 1
        n -= 1
    return data[pos:], 0


# --------------------------------------------------------------------------------------------------------
# Checking a chunk


class SlowVerdict(Exception):
    """A chunk needs the general reader's judgement (an encoding error, a giant field)."""


@dataclass
class _Column:
    """How one item's column becomes JSON: `frag` (the JSON value text), `text` (str() of the value, for
    record keys and entity columns) and `ok` (the vectorised check passed), as Polars expressions."""

    code: str
    frag: pl.Expr
    text: pl.Expr
    ok: pl.Expr


class VectorChecker:
    """The batch form of a RowValidator for plain CSV chunks (see the module docstring)."""

    def __init__(self, validator: RowValidator, delimiter: str, encoding: str, max_field: int,
                 entity_items: list[str], record_tail: tuple[str, ...] | None = None) -> None:
        self.v = validator
        self.record_tail = record_tail
        self.delimiter = delimiter
        self.encoding = PLAIN_ENCODINGS[encoding]
        self.max_field = max_field
        self.ncols = validator.ncols
        self.entity_items = entity_items
        self.fallback = ColumnChecker(validator)
        self._maps: dict[str, dict[str, tuple[str, str] | None]] = {}
        cat = validator.category
        self.period_code = validator.period_item.code if validator.period_item else None
        self.key_items = list(cat.key)

    # ---- per column -------------------------------------------------------------------------------

    def _column(self, df: pl.DataFrame, idx: int, code: str, required: bool, conv: Callable[[str], Any]
                ) -> _Column:
        """The item's expressions. `frag` and `text` are computed first (as columns f_<code>, t_<code>);
        `ok` may read them, so nothing is computed twice."""
        item = self.v.category.item(code)
        raw = pl.col(f"c{idx}")
        frag_col = pl.col(f"f_{code}")
        t = item.type
        if t == "string":
            ok = (raw.str.len_chars() <= item.max_length) & ~raw.str.contains(_STRING_SLOW)
            frag, text = pl.lit('"') + raw + pl.lit('"'), raw
        elif t in ("decimal", "integer"):
            text = frag = _number_text(raw, t)
            ok = _number_ok(raw, frag_col, t, item.min, item.max)
        else:
            frag, text = self._mapped(df[f"c{idx}"], code, conv)
            ok = frag_col.is_not_null()
        ok = pl.when(raw.is_null()).then(pl.lit(not required)).otherwise(ok.fill_null(False))
        return _Column(code, pl.when(raw.is_not_null()).then(frag), pl.when(raw.is_not_null()).then(text), ok)

    def _mapped(self, col: pl.Series, code: str, conv: Callable[[str], Any]) -> tuple[pl.Expr, pl.Expr]:
        """Judge each distinct value once with the converter; map the verdicts back onto the column."""
        seen = self._maps.setdefault(code, {})
        if len(seen) > _MAPPED_CACHE:
            seen.clear()
        good: dict[str, tuple[str, str]] = {}  # this chunk's values only: the cache may hold thousands more
        for raw in col.unique().drop_nulls().to_list():
            if raw not in seen:
                try:
                    value = conv(raw)
                except Bad:
                    seen[raw] = None
                else:
                    seen[raw] = (orjson.dumps(value).decode("utf-8"), str(value))
            if (verdict := seen[raw]) is not None:
                good[raw] = verdict
        keys = list(good)
        frag = pl.col(col.name).replace_strict(keys, [good[k][0] for k in keys], default=None,
                                               return_dtype=pl.String)
        text = pl.col(col.name).replace_strict(keys, [good[k][1] for k in keys], default=None,
                                               return_dtype=pl.String)
        return frag, text

    def _subject(self, df: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
        v = self.v
        if v.subject_idx is None:
            return pl.lit(""), pl.lit(True)
        name = f"c{v.subject_idx}"
        _, text = self._mapped(df[name], "\x00subject", v.subject_conv)
        return text, pl.col("entity_code").is_not_null()

    # ---- per chunk --------------------------------------------------------------------------------

    def stage_chunk(self, chunk: Chunk, wire: str, issues: list[Issue], max_issues: int) -> Batch:
        """The chunk checked: its staged rows in the `wire` format (see `encode`)."""
        df, odd = self._frame(chunk)
        rows = [r for r in odd if r is not None]
        n_rows = df.height + len(rows)
        good, slow_rows = self._stage_frame(df)
        rows.extend(slow_rows)
        more: list[tuple] = []
        rejected = 0
        if rows:
            rows.sort(key=lambda r: r.row_no)
            more, rejected = self.fallback.stage_batch(rows, self.entity_items, issues, max_issues)
        more = as_direct(more, self.record_tail)
        return Batch(n_rows, encode(good, more, wire), rejected, self._facts(good, more))

    def stage_chunk_by_rows(self, chunk: Chunk, wire: str, issues: list[Issue], max_issues: int) -> Batch:
        """`stage_chunk` row by row in Python, for a chunk the general reader accepted although the fast
        path would not (a field near the size limit)."""
        lines = chunk.data.decode(self.encoding).split("\n")
        if chunk.data.endswith(b"\n"):
            lines.pop()
        truncated = chunk.at_end and not chunk.data.endswith(b"\n")
        rows = []
        for i, line in enumerate(lines):
            vals = [v.strip() or None for v in line.split(self.delimiter)]
            if len(vals) == self.ncols:
                row = make_row(chunk.first_row + i, vals) if any(vals) else None
            else:
                row = odd_record(chunk.first_row + i, vals, self.ncols, truncated and i == len(lines) - 1)
            if row is not None:
                rows.append(row)
        staged, rejected = self.fallback.stage_batch(rows, self.entity_items, issues, max_issues)
        batch = checked_batch(len(rows), staged, rejected, self.record_tail)
        return batch._replace(staged=as_copy_text(batch.staged)) if wire == "copy" else batch

    def _facts(self, good: pl.DataFrame | None, more: list[tuple]) -> Facts | None:
        if self.record_tail is None:
            return None
        facts = Facts.of(more)
        if good is None or good.height == 0:
            return facts
        return facts.join(Facts(good["entity_code"].unique().to_list(), good["period_start"].min(),  # type: ignore[arg-type]
                                good["period_end"].max()))  # type: ignore[arg-type]

    def _frame(self, chunk: Chunk) -> tuple[pl.DataFrame, list]:
        """The chunk's lines split into stripped columns c0…; lines of another width become Rows (the
        general reader's rules, messages included) and come back apart; blank lines are dropped."""
        try:
            text = chunk.data.decode(self.encoding)
        except UnicodeDecodeError:
            raise SlowVerdict() from None
        lines = text.split("\n")
        if chunk.data.endswith(b"\n"):
            lines.pop()
        s = pl.Series("line", lines, dtype=pl.String)
        if (s.str.len_bytes().max() or 0) > self.max_field:  # type: ignore[operator]
            raise SlowVerdict()
        width = s.str.count_matches(self.delimiter, literal=True) + 1
        frame = pl.DataFrame({"line": s, "row_no": pl.int_range(chunk.first_row, chunk.first_row + len(lines),
                                                                  eager=True, dtype=pl.Int64)})
        regular = width == self.ncols
        odd: list = []
        if not regular.all():
            last = len(lines) - 1
            truncated = chunk.at_end and not chunk.data.endswith(b"\n")
            for i in regular.not_().arg_true().to_list():
                rec = [v.strip() or None for v in lines[i].split(self.delimiter)]
                odd.append(odd_record(chunk.first_row + i, rec, self.ncols, truncated and i == last))
            frame = frame.filter(regular)
        names = [f"c{i}" for i in range(self.ncols)]
        cols = (frame["line"].str.split_exact(self.delimiter, self.ncols - 1).struct.rename_fields(names)
                .struct.unnest() if self.ncols > 1 else frame.select(pl.col("line").alias("c0")))
        strip = WHITESPACE if any(sep in chunk.data for sep in _SEPARATORS) else None
        df = cols.select(pl.col(names).str.strip_chars(strip).replace("", None)).with_columns(
            frame["row_no"])
        df = df.filter(pl.any_horizontal(pl.col(names).is_not_null()))
        return df, odd

    def _stage_frame(self, df: pl.DataFrame) -> tuple[pl.DataFrame | None, list]:
        """The staging rows of every row the vectorised checks accept (columns as `loading._STAGE_COLS`, then
        the entity columns; or in the direct shape, see `batches.as_direct`), and the other rows as Rows for
        the converters."""
        if df.height == 0:
            return None, []
        v = self.v
        columns = [self._column(df, idx, code, required, conv) for idx, code, _h, required, conv in v.checks]
        by_code = {c.code: c for c in columns}
        entity, subject_ok = self._subject(df)
        texts = set(self.key_items) | set(self.entity_items) | {self.period_code}
        df = df.with_columns(entity.alias("entity_code"), *[c.frag.alias(f"f_{c.code}") for c in columns],
                             *[c.text.alias(f"t_{c.code}") for c in columns if c.code in texts])
        ok_all = pl.all_horizontal([subject_ok, self._name_ok()] + [c.ok for c in columns])
        parts = [pl.when(pl.col(f"f_{k}").is_not_null()).then(pl.lit(f'"{k}":') + pl.col(f"f_{k}"))
                 for k in sorted(by_code)]
        content = pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")
        key = pl.concat_str([(pl.col(f"t_{k}") if k in by_code else pl.lit(None, pl.String)).fill_null("")
                             for k in self.key_items], separator=KEY_SEPARATOR) if self.key_items else pl.lit("")
        name = pl.col(f"c{v.name_idx}") if v.name_idx is not None else pl.lit(None, pl.String)
        extras = [(pl.col(f"t_{c}") if c in by_code else pl.lit(None, pl.String)).alias(f"e_{c}")
                  for c in self.entity_items]
        checked = df.lazy().with_columns(ok_all.alias("ok"))
        slow_q = checked.filter(~pl.col("ok")).select(*[f"c{i}" for i in range(self.ncols)], "row_no")
        tail = self.record_tail
        named = [name.alias("entity_name")] if tail is None else []
        good_q = checked.filter(pl.col("ok")).select(
            pl.col("row_no"), pl.col("entity_code"), *named, key.alias("record_key"),
            content.alias("content"), *(self._period(df, by_code)), *extras,
            *[pl.lit(v, pl.String).alias(f"tail_{i}") for i, v in enumerate(tail or ())])
        slow, good = pl.collect_all([slow_q, good_q])
        fingerprints = _fingerprints(good["content"].cast(pl.Binary).to_list())
        good = good.insert_column(4 + len(named), pl.Series("fingerprint", fingerprints, dtype=pl.String))
        slow_rows = [_as_row(r, self.ncols) for r in slow.iter_rows()] if slow.height else []
        return good, slow_rows

    def _name_ok(self) -> pl.Expr:
        """The subject's name passes the string checks (length, formula prefix) outright, or its row goes to the
        converters, which state the problem."""
        if self.v.name_idx is None:
            return pl.lit(True)
        raw = pl.col(f"c{self.v.name_idx}")
        return raw.is_null() | ((raw.str.len_chars() <= NAME_ITEM.max_length) & ~raw.str.contains(_STRING_SLOW))

    def _period(self, df: pl.DataFrame, by_code: dict[str, _Column]) -> list[pl.Expr]:
        if self.period_code is None or self.period_code not in by_code:
            none = pl.lit(None, pl.String)
            return [none.alias("period_start"), none.alias("period_end")]
        text = pl.col(f"t_{self.period_code}")
        values = df[f"t_{self.period_code}"].unique().drop_nulls().to_list()
        bounds = {p: self.v.bounds(p) for p in values}
        keys = list(bounds)
        return [text.replace_strict(keys, [bounds[k][j] for k in keys], default=None, return_dtype=pl.String)
                .alias(name) for j, name in enumerate(("period_start", "period_end"))]


def _number_text(raw: pl.Expr, t: str) -> pl.Expr:
    """The JSON (and repr) text of a number in the accepted range (see the module docstring): for a decimal
    without leading zeros, the text itself once trailing fraction zeros go (at least one digit after the
    point); for an integer, the text as is."""
    if t != "decimal":
        return raw
    trimmed = raw.str.strip_chars_end("0")
    return (pl.when(raw.str.contains(".", literal=True))
            .then(pl.when(trimmed.str.ends_with(".")).then(trimmed + pl.lit("0")).otherwise(trimmed))
            .otherwise(raw + pl.lit(".0")))


def _number_ok(raw: pl.Expr, text: pl.Expr, t: str, lo: float | None, hi: float | None) -> pl.Expr:
    """Whether a number is in the range where `_number_text` is exact, and within the item's bounds."""
    if t == "decimal":
        digits = text.str.len_bytes() - raw.str.starts_with("-").cast(pl.Int64) - 1
        ok = raw.str.contains(_NUMBER) & (digits <= 15) & ~text.str.contains(_TINY)
        value = raw.cast(pl.Float64, strict=False)
    else:
        ok = raw.str.contains(_INTEGER) & (raw != "-0")
        value = raw.cast(pl.Int64, strict=False)
    if lo is not None:
        ok = ok & (value >= lo)
    if hi is not None:
        ok = ok & (value <= hi)
    return ok


def encode(good: pl.DataFrame | None, more: list[tuple], wire: str) -> list[tuple] | bytes:
    """A chunk's staging rows — `good` from the vectorised checks, `more` from the converters — as
    PostgreSQL COPY text (wire "copy", which the loading process streams as is) or else as tuples."""
    if wire == "copy":
        return (b"" if good is None else _copy_text(good)) + as_copy_text(more)
    return ([] if good is None else good.rows()) + more


def _fingerprints(contents: list[bytes]) -> list[str]:
    """SM3 of each canonical JSON text, as UTF-8 bytes: the one per-row step left in Python (SM3 itself
    costs a few microseconds a row)."""
    h0 = SM3_PREPARED
    out = []
    append = out.append
    for c in contents:
        h = h0.copy()
        h.update(c)
        append(h.hexdigest())
    return out


def _as_row(values: tuple, ncols: int) -> Any:
    return make_row(values[ncols], list(values[:ncols]))


def _copy_text(df: pl.DataFrame) -> bytes:
    """Rows in PostgreSQL's COPY text format. Only the columns that hold a backslash or a control character
    in this chunk are escaped: such text is rare (most of it takes the converter path), and escaping every
    column cost more than the rest of the conversion."""
    text_cols = [c for c, dt in df.schema.items() if dt == pl.String]
    special = df.select(pl.col(text_cols).str.contains(r"[\\\t\n\r]").any()).row(0) if text_cols else ()
    escape = [c for c, hit in zip(text_cols, special, strict=True) if hit]
    if escape:
        df = df.with_columns(pl.col(escape).str.replace_all("\\", "\\\\", literal=True)
                             .str.replace_all("\t", "\\t", literal=True)
                             .str.replace_all("\n", "\\n", literal=True)
                             .str.replace_all("\r", "\\r", literal=True))
    out = io.BytesIO()
    df.write_csv(out, separator="\t", quote_style="never", null_value="\\N", include_header=False,
                 line_terminator="\n")
    return out.getvalue()


__all__ = ["Chunk", "NotPlain", "SlowVerdict", "VectorChecker", "plain_chunks", "plain_eligible"]
