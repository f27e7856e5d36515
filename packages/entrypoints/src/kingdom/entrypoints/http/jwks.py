"""``GET /.well-known/jwks.json``: the public keys other services verify access tokens with.

Served only when the key ring holds asymmetric (EdDSA or RS256) keys: the
active one and the retired ones still verifying, never an HS256 secret.
The document is fixed for the life of the process (keys change on restart),
so it is serialized once.

Caches may keep it for :data:`MAX_AGE` seconds. Hence the rotation rule: a
new key is first added as a *retired* key (published, not yet signing) for
at least that long before it becomes the active one, so that no verifier
meets a ``kid`` it has not fetched yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

PATH: Final = "/.well-known/jwks.json"
MAX_AGE: Final = 300
"""Seconds a client or proxy may cache the document."""


def jwks_endpoint(document: Mapping[str, Any]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering ``document`` (a JWKS, RFC 7517 §5) with a cache lifetime."""
    if not document.get("keys"):
        raise ValueError("a JWKS endpoint needs at least one public key")
    body = orjson.dumps(document)
    headers = {"Cache-Control": f"public, max-age={MAX_AGE}"}

    async def endpoint(request: Request) -> Response:
        return Response(body, media_type="application/json", headers=headers)

    return endpoint
