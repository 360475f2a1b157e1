"""The client's canonical string is the node's, byte for byte, for awkward paths and queries; its keys sign
what the node's verification accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.client import Ed25519Key, SM2Key, signing
from xinyidai.institutions import request_auth, signing_keys

QUERIES = [
    "", "a=1", "b=2&a=1", "a=2&a=1&a=10", "a=&b", "a", "&&a=1&&", "x=%2Fy%2Fz", "x=/y/z", "q=1+2", "q=1%2B2",
    "q=%2b", "q=a%20b", "name=%E4%BF%A1%E6%98%93%E8%B4%B7", "name=信易贷", "k%20ey=v", "%E4%BF%A1=1&%E4%BF%A1=0",
    "a=%", "a=%4", "a=%zz", "a=%E4%BF", "a=~-._", "a=!*'();:@$,", "a=1=2", "=v", "purpose=贷前审查&authorization=SQ-1",
    "Z=1&a=1&_=1&-=1&~=1&.=1", "a=%00", "a=%C3%A9&a=é",
]
PATHS = ["/api/v1/institutions/me", "/api/v1/access/entities/91230103XY0000004H/records/纳税",
         "/api/v1/x y/a+b/%/~._-", "/", "/api/v1/credit/reports/BG-2026-0001/pdf", "/a//b/", "/é/✓/𝄞"]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("path", PATHS[:3])
def test_canonical_string_equals_the_nodes(path: str, query: str) -> None:
    body = '{"金额":"1.00"}'.encode()
    ours = signing.canonical_string("post", path, signing.parse_query(query), body, "1794722400", "n" * 16)
    assert ours == request_auth.canonical_request("post", path, query, body, "1794722400", "n" * 16)


@pytest.mark.parametrize("path", PATHS)
def test_canonical_path_and_empty_body(path: str) -> None:
    ours = signing.canonical_string("GET", path, [], b"", "1", "nonce-nonce-nonce")
    assert ours == request_auth.canonical_request("GET", path, "", b"", "1", "nonce-nonce-nonce")
    assert ours.split(b"\n")[4] == b"1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=6))
def test_what_the_client_sends_decodes_to_what_it_signed(params: list[tuple[str, str]]) -> None:
    sent = signing.encode_query(params)
    assert signing.canonical_query(signing.parse_query(sent)) == request_auth.canonical_query(sent) \
        == signing.canonical_query([(k, v) for k, v in params])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("%&=+ aAzE4BF08/~信é𝄞")) | st.characters(blacklist_categories=("Cs",)),
               max_size=30))
def test_any_raw_query_canonicalises_alike(raw: str) -> None:
    assert signing.canonical_query(signing.parse_query(raw)) == request_auth.canonical_query(raw)


@pytest.mark.parametrize("key", [SM2Key.generate(), Ed25519Key.generate()], ids=["sm2", "ed25519"])
def test_keys_sign_what_the_node_verifies_and_survive_pem(key: SM2Key | Ed25519Key) -> None:
    message = signing.canonical_string("GET", "/api/v1/institutions/me", [], b"", "1", "n" * 16)
    stored = signing_keys.normalise_public_key(key.kind, key.public_hex)
    assert stored == signing_keys.normalise_public_key(key.kind, key.public_pem)
    assert signing_keys.verify(key.kind, stored, message, key.sign(message))
    again = type(key).from_pem(key.to_pem())
    assert again.public_hex == key.public_hex
    assert signing_keys.verify(key.kind, stored, message, again.sign(message))
    assert not signing_keys.verify(key.kind, stored, message + b"x", key.sign(message))
