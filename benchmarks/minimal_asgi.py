"""The ceiling: the smallest ASGI app, served exactly the way Kingdom's server is served.

``python -m minimal_asgi`` runs Kingdom's own ``kingdom.entrypoints.server``
entry point (same settings, same ``uvicorn.run`` options: workers, loop,
HTTP parser, logging) with one change: the application uvicorn loads is
:func:`create`'s app, which answers every request with the fixed JSON that
Kingdom answers ``{ __typename }`` with. Whatever Kingdom's server does to
uvicorn's configuration, the ceiling follows, so the ratio measures Kingdom's
own work and nothing else. The options used are printed on standard error.

If the server ever stops going through ``uvicorn.run``, Kingdom itself would
be served here; the benchmark checks every body against :data:`BODY` and
would refuse to report a ceiling.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from kingdom.entrypoints import server

BODY = b'{"data":{"__typename":"Query"}}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
_START = {"type": "http.response.start", "status": 200, "headers": _HEADERS}
_ANSWER = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    # Read the request body as any real app must before answering.
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(_START)
    await send(_ANSWER)


def create() -> Any:
    """The factory uvicorn calls in each worker (Kingdom's is ``kingdom.entrypoints.asgi:create``)."""
    return app


def main() -> None:
    real_run = uvicorn.run

    def run_minimal(_app: Any, **options: Any) -> None:
        print(f"minimal_asgi: uvicorn options {options}", file=sys.stderr, flush=True)
        real_run("minimal_asgi:create", **{**options, "factory": True})

    uvicorn.run = run_minimal  # type: ignore[assignment]
    server.main()


if __name__ == "__main__":
    main()
