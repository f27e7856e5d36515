"""The development explorer in a real browser: it loads from the server alone and runs a query.

A headless Chromium (:mod:`e2e.browser`) opens ``/graphql`` on a real
server with every request that does not go to that server failed, names
resolving to nothing, and a link that fills the query and the headers (a
token from ``login``) and runs it on load. The test waits for the result in
GraphiQL's response pane and saves a screenshot (its path is printed and
listed under "measured"). Without Chromium the test is skipped, or fails
with ``KINGDOM_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from e2e.browser import chromium_or_skip, headless_chromium
from e2e.client import GraphQLClient
from e2e.server import RunningServer, run_server
from kingdom.entrypoints.http.explorer import FILES

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@kingdom.local", "admin password for the explorer"
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"
# GraphiQL's response pane, once it shows the admin's email.
RESULT = f"""(() => {{
  const shown = document.querySelector('.graphiql-response')?.innerText ?? '';
  return shown.includes({json.dumps(ADMIN_EMAIL)}) ? shown : null;
}})()"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Asked for before ``server``: without a browser, no server is started for nothing."""
    return chromium_or_skip()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Development mode (the default): the explorer is served.
    env = {"KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with run_server(tmp_path_factory.mktemp("data"), env) as running:
        yield running


def test_the_explorer_runs_a_query_with_nothing_but_the_server(
    chromium: str,
    server: RunningServer,
    http: httpx.Client,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    token = GraphQLClient(http).ok(
        LOGIN, {"input": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
    )["login"]["accessToken"]
    link = urlencode(
        {
            "query": "{ viewer { email } }",
            "headers": json.dumps({"Authorization": f"Bearer {token}"}),
            "run": "1",
        }
    )
    started = time.monotonic()
    with headless_chromium(chromium, tmp_path / "chromium") as browser:
        page = browser.open_page(allowed=server.base_url)
        page.navigate(f"{server.base_url}/graphql#{link}")
        shown = page.wait_for(RESULT, timeout=30)
        screenshot = page.screenshot(tmp_path / "explorer.png")
        address = page.evaluate("location.href")
        violations = page.evaluate("window.__violations")
    seconds = time.monotonic() - started

    print(f"explorer screenshot: {screenshot}")
    record_property(
        "measured explorer", f"explorer in Chromium: {seconds:.1f} s, screenshot {screenshot}"
    )
    assert shown, f"no result with the email in GraphiQL's response pane; see {screenshot}"
    # CodeMirror indents with no-break spaces.
    assert json.loads(shown.replace("\xa0", " ")) == {"data": {"viewer": {"email": ADMIN_EMAIL}}}
    assert page.refused == [], "the page asked for something outside the server"
    assert violations == [], "the page's Content-Security-Policy refused something"
    assert page.exceptions == []
    assets = {url.split("?")[0].rsplit("/", 1)[-1] for url in page.requested if "/explorer/" in url}
    assert assets == set(FILES)
    # The token came in the link's fragment, which the page clears once read.
    assert address == f"{server.base_url}/graphql"
