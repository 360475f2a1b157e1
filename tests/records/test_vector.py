"""The vectorised path for plain CSV gives exactly what the general reader and the converters give."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.records.test_columns import CELLS
from xinyidai.records import batches, vector
from xinyidai.records.checking import CheckJob, _check
from xinyidai.records.readers import FileRejected

NUMBERS = ["0", "0.00", "-0", "-0.0", "100", "100.50", "007.5", "1,234.5", "0.0001", "0.00001", "0.000",
           "123456789012345", "12345678901234.5", "99999999999999.99", "1.10", "-3.25", "1e3", "٣", "１２"]
AWKWARD = [" 带空格 ", "\u3000全角空格\u3000", "\x1c分隔\x1d", "a\\b", "制\t表", "\xa0", "  ", "=1+1", "普通"]


def cells_for(item) -> st.SearchStrategy:  # noqa: ANN001
    pool = list(CELLS.get(item.type) or ["x", None])
    if item.type == "enum":
        pool = list(item.allowed) + ["不存在的取值", None]
    if item.type in ("decimal", "integer"):
        pool += NUMBERS
    if item.type == "string":
        pool = [v for v in pool if v is None or len(v) < 100] + AWKWARD
    return st.sampled_from([v for v in pool if v is None or ("," not in v and '"' not in v and "\n" not in v)])


NAMES = ["某公司", "", " 某\\公司 ", "=HYPERLINK(1)", "@某公司", "-某公司", "名" * 201]  # the name follows the text rules
TAIL = ("tax", "1", "current", "某\\税务局", "7", "2026-11-28T08:00:00+00:00")


def run(path: Path, category: str, fast: bool, wire: str = "tuples", tail: tuple[str, ...] | None = None
        ) -> tuple:
    """(rows, rejected, staged rows, issues, facts) through the fast path or the general one."""
    job = CheckJob(path, path.name, None, _catalog(), category, [], wire=wire, record_tail=tail)
    job.batch_rows = 3  # several chunks per file
    eligible = vector.plain_eligible
    if not fast:
        vector.plain_eligible = lambda reader: False  # type: ignore[assignment]
    rows = rejected = 0
    staged_all: list = []
    codes: set[str] = set()
    spans: list[tuple] = []
    try:
        for size, staged, bad, facts in _check(job):
            rows += size
            rejected += bad
            assert (facts is None) == (tail is None)
            if facts is not None:
                codes.update(facts.codes)
                spans.append((facts.first, facts.last))
            if wire == "copy" and not isinstance(staged, bytes):
                staged = batches.as_copy_text(staged)
            staged_all.extend(staged.decode().splitlines() if isinstance(staged, bytes) else staged)
    finally:
        vector.plain_eligible = eligible  # type: ignore[assignment]
    # The merge orders issues by row (stably), as here; within a batch the two paths may list rows apart.
    issues = sorted([(i.row_no, i.field, i.value, i.code, i.message) for i in job.issues], key=lambda i: i[0])
    firsts = [f for f, _ in spans if f]
    lasts = [la for _, la in spans if la]
    return rows, rejected, sorted(staged_all, key=repr), issues, (sorted(codes), min(firsts, default=None),
                                                                  max(lasts, default=None))


def outcome(path: Path, category: str, fast: bool, wire: str = "tuples", tail: tuple[str, ...] | None = None
            ) -> tuple:
    """`run`, or the refusal of the whole file (a cut one, say), which must not depend on the path either."""
    try:
        return run(path, category, fast, wire, tail)
    except FileRejected as exc:
        return ("rejected", exc.code, exc.row_no, exc.message)


_CATALOG = None


def _catalog():  # noqa: ANN202
    global _CATALOG
    if _CATALOG is None:
        from xinyidai.catalog.schema import load_catalog
        _CATALOG = load_catalog()
    return _CATALOG


@pytest.mark.parametrize("code", ["tax", "penalty", "registration"])
def test_plain_csv_fast_path_equals_general_path(catalog, tmp_path, code) -> None:  # noqa: ANN001
    cat = catalog.category(code)
    items = [i for i in cat.items if i.max_length <= 5000]
    headers = ["统一社会信用代码", "主体名称"] + [i.name for i in items]
    line = st.one_of(
        st.tuples(st.sampled_from([c for c in CELLS["uscc"] if c]), st.sampled_from(NAMES),
                  *[cells_for(i) for i in items]).map(lambda r: ",".join("" if v is None else v for v in r)),
        st.sampled_from(["", "   ", ",,,", "x,y", ",".join(["a"] * (len(headers) + 2)),
                         ",".join(["91230100MA1B2C3D4X"] + [""] * (len(headers) + 1))]),
    )

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
    @given(st.lists(line, min_size=0, max_size=25), st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
           st.sampled_from(["\n", "\r\n"]), st.booleans())
    def check(lines: list[str], encoding: str, newline: str, terminated: bool) -> None:
        text = newline.join([",".join(headers)] + lines) + (newline if terminated else "")
        path = tmp_path / "f.csv"
        path.write_bytes(text.encode(encoding))
        for wire in ("tuples", "copy"):
            assert outcome(path, code, True, wire) == outcome(path, code, False, wire)
            # the direct shape (loading.DIRECT_COLS) and each batch's facts do not depend on the path either
            assert outcome(path, code, True, wire, TAIL) == outcome(path, code, False, wire, TAIL)

    check()


def test_number_text_is_what_orjson_and_repr_print() -> None:
    import random

    import polars as pl
    rng = random.Random(5)
    raws = [f"{rng.choice(['', '-'])}{rng.randint(0, 10 ** rng.randint(0, 15))}"
            f"{'.' + str(rng.randint(0, 10 ** 10)).zfill(rng.randint(1, 10))[:10] if rng.random() < 0.8 else ''}"
            for _ in range(20_000)]
    df = pl.DataFrame({"c0": raws}).with_columns(vector._number_text(pl.col("c0"), "decimal").alias("f"))
    df = df.with_columns(vector._number_ok(pl.col("c0"), pl.col("f"), "decimal", None, None).alias("ok"))
    accepted = 0
    for raw, text, ok in df.iter_rows():
        if ok:
            accepted += 1
            assert text == orjson.dumps(float(raw)).decode() == repr(float(raw)), raw
    assert accepted > 10_000


def test_quotes_part_way_switch_to_the_general_reader(catalog, tmp_path) -> None:  # noqa: ANN001
    from xinyidai.entities.codes import make_uscc
    header = "统一社会信用代码,主体名称,所属期,纳税信用等级,应纳税额"
    rows = [f"{make_uscc('230100', i + 1)},公司{i},2026-0{1 + i % 9},A,{i}.5" for i in range(40)]
    rows[30] = f'{make_uscc("230100", 31)},"公司,逗号",2026-01,A,1'
    path = tmp_path / "q.csv"
    path.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    fast, slow = run(path, "tax", True), run(path, "tax", False)
    assert fast == slow
    assert fast[0] == 40 and any("公司,逗号" in repr(s) for s in fast[2])


def test_whitespace_is_what_str_strip_removes() -> None:
    every = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert every == vector.WHITESPACE
    # Polars' default set is all of them but the separators that the fast path looks for, and nothing else.
    assert pl.Series([every]).str.strip_chars().to_list() == ["\x1c\x1d\x1e\x1f"]
    others = pl.Series([chr(c) for c in range(0x110000) if not chr(c).isspace() and not 0xD800 <= c < 0xE000])
    assert others.str.strip_chars().equals(others)
