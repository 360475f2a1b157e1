"""The client against a served node: signed calls with SM2 and Ed25519 answered as typed results, refusals
as typed errors (never retried), the rate limit retried and then surfaced, API keys, and keys revoked or
rotated through `xinyidai institutions credentials` taking effect at once."""

from __future__ import annotations

import pytest

from tests.client.conftest import SLOW_RATE, Live, key_id_of
from tests.entities.helpers import BANK_CODE
from tests.network.nodes import free_port
from xinyidai.client import (
    ApiError,
    Application,
    AuthenticationFailed,
    Client,
    Ed25519Key,
    Institution,
    Product,
    Profile,
    RateLimited,
    SM2Key,
    Unavailable,
)

pytestmark = pytest.mark.slow  # one served demo node for the module (about a minute to build)


@pytest.mark.parametrize("suite", ["sm2", "ed25519"])
def test_signed_calls_give_typed_results(live: Live, suite: str) -> None:
    key, key_id = (live.sm2, live.sm2_id) if suite == "sm2" else (live.ed, live.ed_id)
    with Client(live.url, key_id, key) as node:
        me = node.me()
        assert isinstance(me, Institution)
        assert (me.code, me.authenticated_by, me.principal) == (live.bank, "signature", f"key:{key_id}")
        profile = node.profile(live.entity)
        assert isinstance(profile, Profile) and profile.entity and profile.access_id > 0
        assert "tax" in profile.categories
        assert any(s["authorization"] == live.authorization for s in profile.served_under)
        detail = node.detail(live.entity, "tax")  # under the 原始明细 grant; Chinese in the query
        assert detail.category == "tax" and detail.rows and detail.rows[0]["fields"]
        check = node.verify(live.entity, [{"category": "tax", "op": "exists"}])
        assert check.results and check.results[0]["outcome"] and check.receipt["signature"]
        report = node.report(live.entity)
        assert report.report_no and report.entity_code == live.entity and report.signature
        assert node.get_report(report.report_no).digest == report.digest
        assert node.report_pdf(report.report_no).startswith(b"%PDF")
        verdict = node.verify_report(report.verification_code, report.report_no)
        assert verdict.valid and verdict.code == "VALID"
        products = node.products(size=5)
        assert products.total >= len(products.items) and all(isinstance(p, Product) for p in products.items)
        queue = node.applications(size=5)
        assert all(isinstance(a, Application) and a.institution_code == live.bank for a in queue.items)
        if queue.items:
            assert node.application(queue.items[0].number).number == queue.items[0].number


def test_a_repeated_request_id_is_answered_again(live: Live) -> None:
    with Client(live.url, live.sm2_id, live.sm2) as node:
        first = node.verify(live.entity, [{"category": "tax", "op": "exists"}], request_id="client-test-0001")
        again = node.verify(live.entity, [{"category": "tax", "op": "exists"}], request_id="client-test-0001")
    assert not first.replayed and again.replayed
    assert again.receipt == first.receipt


def test_refusals_are_typed_and_not_retried(live: Live) -> None:
    retried: list[tuple[int, float, str]] = []
    stranger = SM2Key.generate()
    with Client(live.url, live.sm2_id, stranger, on_retry=lambda *a: retried.append(a)) as node, \
            pytest.raises(AuthenticationFailed) as refused:
        node.me()
    assert (refused.value.status, refused.value.code, refused.value.attempts) == (401, "SIGNATURE_INVALID", 1)
    assert refused.value.message == "请求签名验证失败" and not retried
    with Client(live.url, live.sm2_id, live.sm2, on_retry=lambda *a: retried.append(a)) as node, \
            pytest.raises(ApiError) as missing:
        node.profile("91230103MA1ABCDE28")
    assert (missing.value.status, missing.value.code) == (404, "ENTITY_NOT_FOUND") and not retried
    assert missing.value.request_id and missing.value.request_id.startswith("xyd-")


def test_the_rate_limit_is_surfaced_with_the_nodes_wait(live: Live) -> None:
    """The node says how long its rate limit holds (Retry-After, and detail.retry_after); told to wait longer
    than it may, the client does not ask again sooner — that would only be refused — but answers at once.
    (Retries within the node's wait, each signed afresh, are shown against a scripted server in
    test_retries.py: a real node's minute is too long for a test.)"""
    retried: list[tuple[int, float, str]] = []
    with Client(live.url, live.slow_id, live.slow) as node:
        for _ in range(SLOW_RATE):
            assert node.me().code == BANK_CODE
    with Client(live.url, live.slow_id, live.slow, retries=2, max_wait=5,
                on_retry=lambda *a: retried.append(a)) as node, pytest.raises(RateLimited) as limited:
        node.me()
    assert (limited.value.status, limited.value.code, limited.value.attempts) == (429, "RATE_LIMITED", 1)
    assert retried == [] and limited.value.detail["limit_per_minute"] == SLOW_RATE
    assert 5 < limited.value.detail["retry_after"] <= 60  # the window's oldest request leaves it then


def test_api_key_from_the_cli(live: Live) -> None:
    out = live.cli("institutions", "credentials", "issue-api-key", live.bank, "--label", "客户端测试").stdout
    token = next(line for line in out.splitlines() if line.startswith("xyd_"))
    with Client(live.url, api_key=token) as node:
        assert node.me().authenticated_by == "api_key"
    with Client(live.url, api_key=token[:-2] + "xx") as node, pytest.raises(AuthenticationFailed) as bad:
        node.me()
    assert bad.value.code == "API_KEY_INVALID"


def test_keys_revoked_suspended_and_rotated_from_the_cli_take_effect(live: Live) -> None:
    key = Ed25519Key.generate()
    key_id = live.add_key(live.bank, "ed25519", key.public_hex)
    with Client(live.url, key_id, key) as node:
        assert node.me().code == live.bank
        live.cli("institutions", "credentials", "suspend", live.bank, key_id, "--reason", "部署检修")
        with pytest.raises(AuthenticationFailed) as suspended:
            node.me()
        assert (suspended.value.status, suspended.value.code) == (403, "CREDENTIAL_SUSPENDED")
        live.cli("institutions", "credentials", "resume", live.bank, key_id, "--reason", "检修完毕")
        assert node.me().code == live.bank
    successor = Ed25519Key.generate()  # a rotation keeps the credential's kind
    out = live.cli("institutions", "credentials", "rotate", live.bank, key_id, "--grace-hours", "0",
                   "--public-key", successor.public_hex).stdout
    new_id = key_id_of(out.replace(key_id, ""))
    with Client(live.url, key_id, key) as old, pytest.raises(AuthenticationFailed) as revoked:
        old.me()
    assert revoked.value.code == "CREDENTIAL_REVOKED"
    with Client(live.url, new_id, successor) as new:
        assert new.me().principal == f"key:{new_id}"
    live.cli("institutions", "credentials", "revoke", live.bank, new_id, "--reason", "测试结束")
    with Client(live.url, new_id, successor) as new, pytest.raises(AuthenticationFailed) as gone:
        new.me()
    assert gone.value.code == "CREDENTIAL_REVOKED"
    listed = live.cli("institutions", "credentials", "list", live.bank).stdout
    assert f"{key_id}  Ed25519 公钥签名  已吊销" in listed and f"{new_id}  Ed25519 公钥签名  已吊销" in listed


def test_an_unreachable_node_is_retried_then_reported(live: Live) -> None:
    retried: list[tuple[int, float, str]] = []
    with Client(f"http://127.0.0.1:{free_port()}", live.sm2_id, live.sm2, retries=1, backoff=0.01,
                timeout=2, on_retry=lambda *a: retried.append(a)) as node, pytest.raises(Unavailable) as down:
        node.me()
    assert (down.value.status, down.value.code, down.value.attempts) == (0, "CONNECTION_FAILED", 2)
    assert [code for _, _, code in retried] == ["CONNECTION_FAILED"]
