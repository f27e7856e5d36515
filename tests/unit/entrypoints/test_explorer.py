"""The explorer's page and files, as the HTTP app serves them (no database, no browser)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib import resources
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.http.explorer import (
    CONTENT_SECURITY_POLICY,
    FILES,
    ExplorerPage,
    assets,
    render_page,
)

BASE = "http://kingdom.test"
PAGE = f"{BASE}/graphql"


class ApiStandIn:
    """In the GraphQL endpoint's place (an ASGI app): it says it answered."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse(f"api {scope['method']}")(scope, receive, send)


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApiStandIn(), explorer=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


class References(HTMLParser):
    """Every URL in a ``src`` or ``href`` attribute, and the ``<meta>`` policy."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.meta_policy: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag == "meta" and values.get("http-equiv") == "Content-Security-Policy":
            self.meta_policy = values.get("content")


def references(page: str) -> References:
    parser = References()
    parser.feed(page)
    return parser


def directives(policy: str) -> dict[str, str]:
    """``{"script-src": "'self'", ...}``"""
    pairs = (part.strip().partition(" ") for part in policy.split(";"))
    return {name: value for name, _, value in pairs}


async def test_get_graphql_is_our_page_with_its_policy_and_post_still_the_api(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    posted = await http.post("/graphql", json={"query": "{ __typename }"})
    head = await http.head("/graphql")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Kingdom GraphQL explorer</title>" in page.text
    assert page.text == render_page()
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    # The same policy travels in the page, for pages sent without our headers.
    assert references(page.text).meta_policy == CONTENT_SECURITY_POLICY
    assert posted.text == "api POST"
    assert head.status_code == 200


async def test_every_file_the_page_references_is_served_with_its_type_for_a_year(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get("/graphql")).text
    urls = [urljoin(PAGE, url) for url in references(page).urls if not url.startswith("data:")]

    served = {}
    for url in urls:
        response = await http.get(url)
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        served[name] = response
        assert response.status_code == 200, url
        expected = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.headers["content-type"] == f"{expected}; charset=utf-8", url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert set(served) == set(FILES)
    folder = resources.files("kingdom.entrypoints.http.explorer")
    for name, response in served.items():
        assert response.content == folder.joinpath(FILES[name]).read_bytes()
    assert [u for u in urls if urlsplit(u).path.startswith("/graphql/explorer/")] == urls


async def test_the_page_and_our_files_name_nothing_outside_the_server() -> None:
    page = render_page()
    ours = [assets()[name].body.decode() for name in ("explorer.js", "explorer.css")]

    for text in (page, *ours):
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE)
    for url in references(page).urls:
        parts = urlsplit(urljoin(PAGE, url))
        assert (parts.scheme, parts.netloc) in {("http", "kingdom.test"), ("data", "")}, url
    # GraphiQL's stylesheet embeds its fonts and images; it imports and fetches nothing.
    css = assets()["graphiql.min.css"].body.decode()
    assert "@import" not in css
    assert set(re.findall(r"url\(\s*['\"]?([a-z]+):", css)) <= {"data"}


async def test_an_unknown_or_outdated_file_is_not_cached_for_long(http: httpx.AsyncClient) -> None:
    unknown = await http.get("/graphql/explorer/graphiql.min.js.map")
    traversal = await http.get("/graphql/explorer/..%2F__init__.py")
    outdated = await http.get("/graphql/explorer/explorer.js?v=0000")

    assert unknown.status_code == traversal.status_code == 404
    assert outdated.status_code == 200
    assert outdated.headers["cache-control"] == "no-cache"


async def test_without_the_explorer_the_api_answers_get_and_no_file_is_served() -> None:
    app = create_app(ApiStandIn())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        page = await http.get("/graphql", headers={"Accept": "text/html"})
        asset = await http.get(
            f"/graphql/explorer/graphiql.min.js?v={assets()['graphiql.min.js'].version}"
        )

    assert page.text == "api GET"
    assert asset.status_code == 404


async def test_the_endpoints_own_door_serves_the_same_page_with_its_headers() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ExplorerPage()), base_url=BASE
    ) as http:
        page = await http.get("/graphql")

    assert ExplorerPage().html() == page.text == render_page()
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].endswith("frame-ancestors 'none'")


def test_under_another_path_the_page_points_below_it() -> None:
    page = render_page("/api/graphql")
    assert all(
        urljoin("http://h/api/graphql", u).startswith("http://h/api/graphql/explorer/")
        for u in references(page).urls
        if not u.startswith("data:")
    )
