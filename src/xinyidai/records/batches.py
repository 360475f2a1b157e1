"""A checked batch as it travels from the checkers to the loader: its staged rows (tuples, or COPY text),
how many rows it rejected, and — for direct loading — the facts the loader needs first. Shared by the
row-by-row checker (`checking`) and the column-wise one (`vector`)."""

from __future__ import annotations

from typing import Any, NamedTuple


def as_direct(rows: list[tuple], tail: tuple[str, ...] | None) -> list[tuple]:
    """Staging tuples (see records.columns) in the direct shape, when the job asks for it."""
    if tail is None:
        return rows
    return [r[:2] + r[3:] + tail for r in rows]


def checked_batch(size: int, staged: list[tuple], rejected: int, tail: tuple[str, ...] | None) -> Batch:
    """A batch checked row by row: its staging tuples, in the direct shape with their facts when the job
    loads directly (`CheckJob.record_tail`)."""
    if tail is None:
        return Batch(size, staged, rejected)
    direct = as_direct(staged, tail)
    return Batch(size, direct, rejected, Facts.of(direct))


class Facts(NamedTuple):
    """What direct loading must know of a batch before it stores it: the entities it names (each must be
    registered) and the span of the periods it covers (for the delivery's record)."""

    codes: list[str]
    first: str | None
    last: str | None

    @classmethod
    def of(cls, rows: list[tuple]) -> Facts:
        """Of direct-shape tuples: entity code, …, period start, period end at 1, 5 and 6."""
        return cls(list({r[1] for r in rows}), min((r[5] for r in rows if r[5]), default=None),
                   max((r[6] for r in rows if r[6]), default=None))

    def join(self, other: Facts) -> Facts:
        return Facts(list(set(self.codes) | set(other.codes)), earliest(self.first, other.first),
                     latest(self.last, other.last))


def earliest(a: str | None, b: str | None) -> str | None:
    """The earlier of two ISO dates, either of which may be unknown."""
    return b if a is None else a if b is None else min(a, b)


def latest(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


class Batch(NamedTuple):
    """One checked batch: its rows, the staged rows (tuples, or COPY text), how many it rejected, and its
    facts when the job loads directly (`CheckJob.record_tail`)."""

    size: int
    staged: list[tuple] | bytes
    rejected: int
    facts: Facts | None = None


def _copy_value(v: Any) -> str:
    if v is None:
        return "\\N"
    if not isinstance(v, str):
        return str(v)
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:  # rare: escape only when needed (it is the slow part)
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return v


def as_copy_text(rows: list[tuple]) -> bytes:
    """Rows in PostgreSQL's COPY text format: tab-separated, \\N for NULL, backslash escapes."""
    return "".join("\t".join(map(_copy_value, r)) + "\n" for r in rows).encode("utf-8")
