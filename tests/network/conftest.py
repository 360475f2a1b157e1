"""Three real nodes (national, provincial, one city) started once per module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_URL as TEST_PG_URL
from xinyidai.kit.db import Database

from .nodes import Node, reset_postgres

PG_URL = os.environ.get("XINYIDAI_TEST_NETWORK_PG_URL", "")


@pytest.fixture
def parent_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A second node's database beside the test's own `db` (the province's, when `db` is the city's)."""
    if TEST_PG_URL:
        pytest.skip("two databases side by side: SQLite only")
    target = tmp_path / "province.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), target)
    database = Database(f"sqlite:///{target}")
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    root: Path = tmp_path_factory.mktemp("net")
    national = Node("CN", "national", "全国中小企业融资综合信用服务平台", root / "national")
    province = Node("CN-230000", "provincial", "黑龙江省融资信用服务平台", root / "province", database_url=PG_URL)
    city = Node("CN-230100", "municipal", "哈尔滨市融资信用服务平台", root / "harbin")
    nodes = {"national": national, "province": province, "city": city}
    if PG_URL:
        reset_postgres(PG_URL)
    try:
        national.init()
        national.start()
        province.init(parent=national)
        province.start()
        city.init(parent=province)
        city.start()
        province.apply_to(national, region="23")
        city.apply_to(province, region="2301")
        yield nodes
    finally:
        for n in nodes.values():
            n.kill()


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    """The nodes run on the real clock, so envelopes made here must too (overrides the suite's fixed one)."""
    yield None
