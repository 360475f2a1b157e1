"""Reading a source: URL and secret checks, the batch cut that never splits one watermark value, a real SQLite
front database, and a real REST server on a loopback port that checks the bearer token."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.quality.conftest import Q1_MAPPING, q1_front_sqlite, q1_rows
from tests.quality.conftest import Q1_TOKEN as TOKEN
from tests.quality.conftest import Q1Api as _Api
from xinyidai.kit.errors import InvalidInput
from xinyidai.quality import connectors
from xinyidai.quality.connectors import SourceError


def test_url_with_password_or_token_is_refused() -> None:
    for url in ("postgresql://u:pw@127.0.0.1/x", "https://api.example.cn/v1?access_token=abc",
                "https://u:p@api.example.cn/"):
        kind = "database" if url.startswith("postgresql") else "rest"
        with pytest.raises(InvalidInput) as e:
            connectors.check_url(kind, url)
        assert e.value.code == "URL_HAS_SECRET" and "pw" not in e.value.message
        assert "口令" in e.value.message
    assert connectors.mask_url("postgresql://u:pw@h/x") == "postgresql://u:***@h/x"
    assert "abc" not in connectors.mask_url("https://a/?token=abc&page=2")


def test_dialects_and_drivers() -> None:
    connectors.check_url("database", "postgresql://reader@127.0.0.1:5432/front")
    connectors.check_url("database", "sqlite:////data/front.db")
    with pytest.raises(InvalidInput) as e:
        connectors.check_url("database", "oracle://reader@h/x")
    assert e.value.code == "UNSUPPORTED_DIALECT"
    try:
        import pymysql  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInput) as e:
            connectors.check_url("database", "mysql+pymysql://reader@h/x")
        assert e.value.code == "DRIVER_MISSING" and "PyMySQL" in e.value.message


def test_secret_refs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("plain", "env:", "file:relative/path", "env:A B"):
        with pytest.raises(InvalidInput) as e:
            connectors.check_secret_ref(bad)
        assert e.value.code == "BAD_SECRET_REF"
    monkeypatch.setenv("Q1_SECRET", "s3cret")
    assert connectors.read_secret("env:Q1_SECRET") == "s3cret"
    monkeypatch.delenv("Q1_SECRET")
    with pytest.raises(SourceError) as e:
        connectors.read_secret("env:Q1_SECRET")
    assert e.value.code == "SECRET_MISSING"
    f = tmp_path / "secret"
    f.write_text("filesecret\n")
    os.chmod(f, 0o644)
    with pytest.raises(SourceError) as e:
        connectors.read_secret(f"file:{f}")
    assert e.value.code == "SECRET_FILE_EXPOSED" and "filesecret" not in e.value.message
    os.chmod(f, 0o600)
    assert connectors.read_secret(f"file:{f}") == "filesecret"


def test_cut_never_splits_a_watermark_value() -> None:
    rows = [{"w": w} for w in (1, 1, 2, 2, 3, 3, 3)]
    assert connectors.cut(rows[:5], "w", 4) == (rows[:4], True)  # 2 | 3: a clean cut
    assert connectors.cut(rows[:4], "w", 3) == (rows[:2], True)  # 1 1 2 | 2: cut before the 2s
    assert connectors.cut(rows, "w", 10) == (rows, False)
    assert connectors.cut([{"w": 5}] * 4, "w", 3) == ([], True)  # one value fills it: the caller takes it all


def test_sqlite_front_database(tmp_path: Path) -> None:
    path = q1_front_sqlite(tmp_path / "front.db", q1_rows(6))  # watermarks 1 1 2 2 3 3
    url = f"sqlite:///{path}"
    cols = list(Q1_MAPPING)
    b = connectors.read_database(url, None, "tax_feed", cols, "updated", None, 3)
    assert [r["updated"] for r in b.rows] == [1, 1] and b.more and b.watermark_to == 1
    b = connectors.read_database(url, None, "tax_feed", cols, "updated", "1", 4)
    assert [r["updated"] for r in b.rows] == [2, 2, 3, 3] and not b.more
    b = connectors.read_database(url, None, "SELECT * FROM tax_feed WHERE grade = 'A'", cols, "updated", "3", 4)
    assert b.rows == [] and not b.more
    # One value alone larger than the batch is taken whole.
    b = connectors.read_database(url, None, "tax_feed", cols, "updated", None, 1)
    assert [r["updated"] for r in b.rows] == [1, 1]


def test_sqlite_bad_inputs(tmp_path: Path) -> None:
    path = q1_front_sqlite(tmp_path / "front.db", q1_rows(4))
    url = f"sqlite:///{path}"
    with pytest.raises(SourceError) as e:
        connectors.read_database(f"sqlite:///{tmp_path}/missing.db", None, "tax_feed", ["uscc"], "updated", None, 5)
    assert e.value.code == "SOURCE_UNREACHABLE"
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(SourceError) as e:
        connectors.read_database(url, None, "tax_feed_v2", ["uscc"], "updated", None, 5)
    assert e.value.code == "SOURCE_TABLE_MISSING"
    with pytest.raises(SourceError) as e:
        connectors.read_database(url, None, "tax_feed", ["uscc", "credit_grade"], "updated", None, 5)
    assert e.value.code == "SOURCE_COLUMNS_CHANGED" and "credit_grade" in e.value.message
    with pytest.raises(SourceError) as e:
        connectors.read_database(url, None, "tax_feed", ["uscc"], "updated", "99", 5)
    assert e.value.code == "WATERMARK_BACKWARDS" and "重置水位" in e.value.message


def test_unreachable_postgresql() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError) as e:
        connectors.read_database(f"postgresql://reader@127.0.0.1:{port}/front", "pw-never-shown", "t", ["a"], "w",
                                 None, 5)
    assert e.value.code == "SOURCE_UNREACHABLE" and "pw-never-shown" not in e.value.message


# ---- REST ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["pages", "next"])
def test_rest_follows_pages(q1_api: str, mode: str) -> None:
    _Api.mode = mode
    cols = list(Q1_MAPPING)
    b = connectors.read_rest(q1_api, TOKEN, "data", cols, "updated", None, 100)
    assert [r["updated"] for r in b.rows] == [1, 1, 2, 2, 3, 3, 4, 4] and not b.more
    assert len(_Api.seen) == 3  # 8 rows, 3 a page
    b = connectors.read_rest(q1_api, TOKEN, "data", cols, "updated", "2", 3)
    assert [r["updated"] for r in b.rows] == [3, 3] and b.more  # 3 3 4: cut before the 4s


def test_rest_bad_answers(q1_api: str) -> None:
    cols = list(Q1_MAPPING)
    with pytest.raises(SourceError) as e:
        connectors.read_rest(q1_api, "wrong-token", "data", cols, "updated", None, 10)
    assert e.value.code == "SOURCE_AUTH_FAILED" and "wrong-token" not in e.value.message
    for mode, code in (("bad_json", "SOURCE_NOT_JSON"), ("error", "SOURCE_HTTP_STATUS"),
                       ("not_dict", "SOURCE_BAD_SHAPE"), ("wrong_key", "SOURCE_BAD_SHAPE")):
        _Api.mode = mode
        with pytest.raises(SourceError) as e:
            connectors.read_rest(q1_api, TOKEN, "data", cols, "updated", None, 10)
        assert e.value.code == code, mode
        assert TOKEN not in e.value.message
    _Api.mode = "pages"
    with pytest.raises(SourceError) as e:
        connectors.read_rest(q1_api, TOKEN, "data", [*cols, "tax_paid"], "updated", None, 10)
    assert e.value.code == "SOURCE_COLUMNS_CHANGED" and "tax_paid" in e.value.message
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError) as e:
        connectors.read_rest(f"http://127.0.0.1:{port}/x", TOKEN, "data", cols, "updated", None, 10, timeout=3)
    assert e.value.code == "SOURCE_UNREACHABLE"
