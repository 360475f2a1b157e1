"""`xinyidai.client`: a financial institution's client of a node's JSON API.

    from xinyidai.client import Client, SM2Key
    key = SM2Key.load("bank-sm2.pem")
    with Client("https://xyd.example.cn", "3f2a…", key) as node:
        print(node.me().name)

Requests are signed as the node's OpenAPI document describes (SM2 or Ed25519), retried on 429/503 with
backoff, and answered as typed results or `ApiError`. It imports only the crypto kit of the node's code,
never the node itself, so it can be packaged on its own.
"""

from xinyidai.client.errors import ApiError, AuthenticationFailed, RateLimited, Unavailable
from xinyidai.client.keys import Ed25519Key, SigningKey, SM2Key
from xinyidai.client.results import (
    Application,
    Decision,
    Detail,
    Institution,
    LoanStatus,
    Page,
    Product,
    Profile,
    Report,
    ReportCheck,
    Verification,
)
from xinyidai.client.transport import Client

__all__ = [
    "ApiError",
    "Application",
    "AuthenticationFailed",
    "Client",
    "Decision",
    "Detail",
    "Ed25519Key",
    "Institution",
    "LoanStatus",
    "Page",
    "Product",
    "Profile",
    "RateLimited",
    "Report",
    "ReportCheck",
    "SM2Key",
    "SigningKey",
    "Unavailable",
    "Verification",
]
