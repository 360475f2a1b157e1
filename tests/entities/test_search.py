"""Searching the register: a prefecture or province chosen as the region covers the divisions below it."""

from __future__ import annotations

from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.service import search_entities
from xinyidai.kit import clock
from xinyidai.kit.pagination import PageRequest

REGIONS = ("230100", "230102", "230103", "230199", "230200", "230202", "220100")


def _found(db, region: str) -> list[str]:  # noqa: ANN001
    with db.session() as s:
        page = search_entities(s, region=region, req=PageRequest(1, 200))
        return sorted(e.region_code for e in page.items)


def test_a_region_covers_the_divisions_below_it(db) -> None:  # noqa: ANN001
    with db.session() as s:
        for n, region in enumerate(REGIONS, start=1):
            s.add(MarketEntity(code=make_uscc(region, n), name=f"测试{n}有限公司", kind="企业", region_code=region,
                               status="存续", updated_at=clock.now()))
    assert _found(db, "230100") == ["230100", "230102", "230103", "230199"]  # 哈尔滨市 with its districts
    assert _found(db, "230102") == ["230102"]  # a district is itself
    assert _found(db, "230200") == ["230200", "230202"]
    assert _found(db, "230000") == sorted(r for r in REGIONS if r.startswith("23"))  # the province
    assert _found(db, "2301%") == [] and _found(db, "999900") == []  # not a division: nothing, no pattern


def test_pages_of_tied_rows_keep_one_order(db) -> None:  # noqa: ANN001
    """Sorted by status, the rows that share one status come in credit-code order (the primary key), in the
    direction asked, so paging through them shows each row once."""
    with db.session() as s:
        for n in range(1, 8):
            s.add(MarketEntity(code=make_uscc("230100", n), name=f"并列{n}有限公司", kind="企业", region_code="230100",
                               status="存续", updated_at=clock.now()))
    for desc in (False, True):
        with db.session() as s:
            pages = [search_entities(s, region="230100", req=PageRequest(p, 3, "status", desc)).items
                     for p in (1, 2, 3)]
        codes = [e.code for page in pages for e in page]
        assert codes == sorted(codes, reverse=desc) and len(set(codes)) == 7
