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
