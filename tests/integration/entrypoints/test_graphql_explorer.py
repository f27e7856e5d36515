"""The explorer as the server's composition root sets it up: served in development only.

The app comes from ``composition.asgi_app``, as uvicorn gets it, built from
settings; nothing here touches the database (``GET /graphql`` does not).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from kingdom.entrypoints.composition import asgi_app, build
from kingdom.entrypoints.http.explorer import FILES, PAGE_HEADERS, assets, render_page
from kingdom.entrypoints.settings import Settings

SECRET = "explorer-test-signing-key-0123456789abcdefghijklmnop"


@asynccontextmanager
async def server(data_dir: Path, environment: str) -> AsyncIterator[httpx.AsyncClient]:
    kingdom = build(
        Settings.from_environ(
            {
                "KINGDOM_ENV": environment,
                "KINGDOM_DATA_DIR": str(data_dir),
                "KINGDOM_TOKEN_SIGNING_KEY": SECRET,
            }
        )
    )
    try:
        transport = httpx.ASGITransport(app=asgi_app(kingdom))
        async with httpx.AsyncClient(transport=transport, base_url="http://kingdom.test") as client:
            yield client
    finally:
        await kingdom.database.dispose()


def _urls() -> list[str]:
    return [f"/graphql/explorer/{name}?v={asset.version}" for name, asset in assets().items()]


async def test_development_serves_our_page_and_its_files(tmp_path: Path) -> None:
    async with server(tmp_path, "development") as http:
        page = await http.get("/graphql", headers={"Accept": "text/html"})
        files = [await http.get(url) for url in _urls()]

    assert page.status_code == 200
    assert page.text == render_page()
    assert page.headers["content-security-policy"] == PAGE_HEADERS["Content-Security-Policy"]
    assert "esm.sh" not in page.text
    assert [f.status_code for f in files] == [200] * len(FILES)


@pytest.mark.parametrize(("accept", "status"), [("text/html", 406), ("*/*", 400)])
async def test_production_serves_no_page_and_no_file(
    tmp_path: Path, accept: str, status: int
) -> None:
    async with server(tmp_path, "production") as http:
        page = await http.get("/graphql", headers={"Accept": accept})
        files = [await http.get(url) for url in _urls()]

    # GET /graphql is the API's: HTML is not acceptable (406), and a GraphQL
    # request needs a query (400).
    assert page.status_code == status
    assert "content-security-policy" not in page.headers
    assert [f.status_code for f in files] == [404] * len(FILES)
