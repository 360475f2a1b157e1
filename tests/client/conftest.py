"""A real node for the client: `xinyidai demo` (a small province, with a bank holding authorizations) in a
temporary folder, keys registered through `xinyidai institutions credentials add-key`, and
`xinyidai serve` on a free loopback port."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.entities.helpers import BANK_CODE
from tests.network.nodes import Node
from xinyidai.access.authorizations import GrantRequest, grant, preview
from xinyidai.catalog.schema import load_catalog
from xinyidai.client import Ed25519Key, SM2Key
from xinyidai.config import load_settings
from xinyidai.kit import clock
from xinyidai.kit.principal import Principal

SLOW_RATE = 3  # requests a minute for the slow bank: its fourth call in a minute is refused


def key_id_of(output: str) -> str:
    found = re.search(r"\b[0-9a-f]{16}\b", output)
    assert found, output
    return found.group(0)


@dataclass
class Live:
    node: Node
    bank: str
    entity: str  # an entity that granted `bank` an authorization covering tax
    authorization: str
    sm2: SM2Key
    sm2_id: str
    sm2_pem: Path  # the private key, as SM2Key writes it
    ed: Ed25519Key
    ed_id: str
    slow: SM2Key
    slow_id: str

    @property
    def url(self) -> str:
        return self.node.url

    def cli(self, *args: str, check: bool = True):  # noqa: ANN201
        return self.node.cli(*args, check=check)

    def add_key(self, code: str, kind: str, public_key: str) -> str:
        return key_id_of(self.cli("institutions", "credentials", "add-key", code, "--kind", kind,
                                  "--public-key", public_key, "--label", "测试").stdout)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("client-node")
    node = Node("CN-230000", "provincial", "客户端测试节点", root)
    node.cli("demo", "--entities", "200", "--months", "3")
    with node.db().engine.connect() as conn:
        bank, entity, number = conn.execute(text(
            "SELECT a.institution_code, a.entity_code, a.number FROM authorizations a "
            "JOIN authorization_scopes s ON s.authorization_id = a.id "
            "WHERE a.status = 'active' AND a.purpose = '贷前审查' AND s.category = 'tax' "
            "ORDER BY a.id LIMIT 1")).one()
    with node.db().session() as s:  # the enterprise also lets the bank read tax in detail, and verify claims
        catalog = load_catalog(load_settings(env={}).catalog_path)
        owner = Principal(0, "client-test-owner", "企业", "enterprise", entity)
        for purpose, mode in (("贷前审查", "原始明细"), ("核验", "核验比对")):
            req = GrantRequest(bank, purpose, mode, ["tax"], clock.today() + timedelta(days=30), None, {})
            grant(s, catalog, owner, req, preview(s, catalog, owner, req)[1])
    sm2, ed, slow = SM2Key.generate(), Ed25519Key.generate(), SM2Key.generate()
    (root / "bank-sm2.pem").write_text(sm2.to_pem())
    (root / "bank-sm2.pub.pem").write_text(sm2.public_pem)
    node.cli("institutions", "add", BANK_CODE, "--name", "限流测试银行", "--rate", str(SLOW_RATE))
    partial = Live(node, bank, entity, number, sm2, "", root / "bank-sm2.pem", ed, "", slow, "")
    partial.sm2_id = partial.add_key(bank, "sm2", str(root / "bank-sm2.pub.pem"))  # a PEM file
    partial.ed_id = partial.add_key(bank, "ed25519", ed.public_hex)  # hex on the command line
    partial.slow_id = partial.add_key(BANK_CODE, "sm2", slow.public_hex)
    node.start()
    try:
        yield partial
    finally:
        node.kill()
