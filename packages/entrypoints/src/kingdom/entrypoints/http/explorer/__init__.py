"""The GraphiQL explorer, served by the server itself: no CDN, no internet needed.

In development ``GET /graphql`` answers our page (``page.html``) and
``/graphql/explorer/<name>`` the few files it loads: React, ReactDOM and
GraphiQL, copied from npm into ``vendor/`` (``vendor/README.md`` says which
versions and how to refresh them), and our start-up script and styles. They
are package data read with :mod:`importlib.resources`, so they travel inside
wheels and pexes. Production serves none of this.

Two ways in: :func:`explorer_routes`, which ``create_app(explorer=True)``
serves in the API's place for a browser's ``GET /graphql`` (the server does
so in development); and :class:`ExplorerPage`, the same page as a plain ASGI
answer, which the GraphQL endpoint on its own (built with ``debug``) sends
for such a GET, without the files.

The page's Content-Security-Policy (:data:`CONTENT_SECURITY_POLICY`) lets it
load scripts, styles and connections from its own origin only. Asset URLs
carry a digest of the file (``?v=``), so the files can be cached for a year
and a new server's files are fetched anew.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

# name in the URL -> file in this package
FILES: Final = {
    "react.production.min.js": "vendor/react.production.min.js",
    "react-dom.production.min.js": "vendor/react-dom.production.min.js",
    "graphiql.min.js": "vendor/graphiql.min.js",
    "graphiql.min.css": "vendor/graphiql.min.css",
    "explorer.js": "explorer.js",
    "explorer.css": "explorer.css",
}
MEDIA_TYPES: Final = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        # No 'unsafe-inline' or 'unsafe-eval': GraphiQL 3's UMD bundle needs
        # neither, and the page has no inline script or style (explorer.js,
        # explorer.css). Styles React and CodeMirror set through the DOM
        # (element.style) are not governed by style-src. GraphiQL's dialogs
        # (settings, shortcuts) also add a <style> that locks the page's
        # scrolling (react-remove-scroll): it is refused, harmlessly, since
        # this page never scrolls; the dialogs themselves work.
        "script-src 'self'",
        "style-src 'self'",
        # GraphiQL's stylesheet embeds its fonts and a few images as data: URLs.
        "font-src 'self' data:",
        "img-src 'self' data:",
        # GraphiQL posts its operations to /graphql, on this origin.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)
"""The page's policy, in its header and in a ``<meta>`` (for pages sent without our headers)."""
PAGE_HEADERS: Final = {
    # frame-ancestors works only in a header, not in a <meta>.
    "Content-Security-Policy": f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}
CACHED_FOR_A_YEAR: Final = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str
    """The start of the body's SHA-256: the ``?v=`` of its URL."""


@functools.cache
def assets() -> Mapping[str, Asset]:
    """Every file the page loads, by URL name, read once from the package."""
    folder = resources.files(__name__)
    loaded = {}
    for name, path in FILES.items():
        body = folder.joinpath(path).read_bytes()
        media_type = MEDIA_TYPES[name[name.rindex(".") :]]
        loaded[name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return loaded


def render_page(graphql_path: str = "/graphql") -> str:
    """``page.html`` with its asset URLs and policy filled in.

    Asset URLs are relative ("graphql/explorer/..." from the page at
    "/graphql"), so they stay right when the app is served under a root path.
    """
    base = f"{graphql_path.rstrip('/').rsplit('/', 1)[-1]}/explorer/"
    template = resources.files(__name__).joinpath("page.html").read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        name = match[1]
        if name == "policy":
            return html.escape(CONTENT_SECURITY_POLICY)
        return html.escape(f"{base}{name}?v={assets()[name].version}")

    return re.sub(r"\{\{ ([\w.-]+) \}\}", fill, template)


def explorer_routes(graphql_path: str = "/graphql") -> list[BaseRoute]:
    """``GET graphql_path`` (the page) and ``GET graphql_path/explorer/<name>`` (its files).

    Put them before the GraphQL API's own route, which answers every method.
    """
    page = render_page(graphql_path)
    files = assets()

    async def explorer_page(request: Request) -> Response:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def explorer_file(request: Request) -> Response:
        asset = files.get(request.path_params["name"])
        if asset is None:
            return PlainTextResponse("Not Found", status_code=404)
        current = request.query_params.get("v") == asset.version
        return Response(
            asset.body,
            media_type=asset.media_type,
            headers={
                # Another version's URL still gets today's file, uncached.
                "Cache-Control": CACHED_FOR_A_YEAR if current else "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return [
        Route(graphql_path, explorer_page, methods=["GET"]),
        Route(f"{graphql_path}/explorer/{{name}}", explorer_file, methods=["GET"]),
    ]


class ExplorerPage:
    """The page with its headers as a plain ASGI answer: the GraphQL endpoint's own GET.

    Its files are served only by :func:`explorer_routes` (``create_app(explorer=True)``).
    """

    def __init__(self, graphql_path: str = "/graphql") -> None:
        self.page = render_page(graphql_path)
        self._body = self.page.encode("utf-8")
        self._headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(self._body)).encode("ascii")),
            *(
                (name.lower().encode("ascii"), value.encode("ascii"))
                for name, value in PAGE_HEADERS.items()
            ),
        ]

    def html(self, request: Any = None) -> str:
        return self.page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        body = b"" if scope["method"] == "HEAD" else self._body
        await send({"type": "http.response.body", "body": body})
