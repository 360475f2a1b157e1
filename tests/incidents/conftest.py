"""A province node (CN-230000) with two security officers, an operator, enterprises of Harbin and one of
Jilin (another node's region), an institution, a connected city node and its parent, and a few audit
entries to link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions import onboarding
from xinyidai.kit import audit, clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.network.models import Peer
from xinyidai.network.relay import NodeContext

NODE = "CN-230000"
CITY = "CN-230100"
SEC1 = Principal(21, "sec1", "安全管理员甲", "security", None)
SEC2 = Principal(22, "sec2", "安全管理员乙", "security", None)
OPERATOR = Principal(23, "op", "运营人员", "operator", None)
HARBIN_A = make_uscc("230100", 7101)
HARBIN_B = make_uscc("230100", 7102)
JILIN = make_uscc("220100", 7103)
BANK = make_uscc("230100", 7190, "1", "1")


@dataclass
class World:
    db: Database
    ctx: NodeContext
    audit_ids: list[int]


@pytest.fixture
def world(db: Database) -> World:
    ident = get_suite("sm").generate_identity()
    with db.session() as s:
        for code, region in ((HARBIN_A, "230100"), (HARBIN_B, "230100"), (JILIN, "220100")):
            s.add(MarketEntity(code=code, name=f"企业{code[-4:]}", region_code=region, updated_at=clock.now()))
        onboarding.onboard(s, OPERATOR, code=BANK, name="测试银行哈尔滨分行", kind="银行", region_code="230100")
        for code, relation in (("CN", "parent"), (CITY, "child")):
            s.add(Peer(code=code, name=f"节点{code}", role="national" if code == "CN" else "municipal",
                       relation=relation, suite="sm", public_key=dict(ident.public_bundle()), key_id=ident.key_id,
                       status="active", assessment={}, applied_at=clock.now() - timedelta(days=30), mode="push"))
        s.flush()
        ids = [audit.record(s, "bank1", "access.profile", f"entity:{HARBIN_A}", entity_code=HARBIN_A,
                            institution_code=BANK).id,
               audit.record(s, "bank1", "access.profile", f"entity:{JILIN}", entity_code=JILIN,
                            institution_code=BANK).id]
    return World(db, NodeContext(NODE, "provincial", ident), ids)
