"""A headless Chromium for end-to-end tests, driven over the DevTools protocol.

The protocol runs over a pipe (``--remote-debugging-pipe``: the browser
reads commands on its fd 3 and writes replies and events on its fd 4, each a
JSON text ending in a NUL byte), so no websocket library and no debugging
port are needed. Every request the page makes is paused
(``Fetch.requestPaused``) and let through only if it goes to the allowed
origin; anything else fails and is remembered, so a test both closes the
network to the page and sees what the page tried to reach.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Where Debian and the usual packages put it, in case PATH is a sandbox's.
FALLBACK_PATH = "/usr/bin:/usr/local/bin:/snap/bin"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",  # tests may run as root, or in a container without user namespaces
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-default-browser-check",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1280,860",
    # No host name resolves, and the test server's address only to itself.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-pipe",
]


def chromium_or_skip() -> str:
    """The Chromium executable, or the calling test is skipped (fails with KINGDOM_REQUIRE_BROWSER=1).

    ``KINGDOM_CHROMIUM`` names the executable; otherwise it is looked for on
    ``PATH``. CI sets ``KINGDOM_REQUIRE_BROWSER=1`` once it has installed
    Chromium, so the browser tests cannot pass there by being skipped.
    """
    named = os.environ.get("KINGDOM_CHROMIUM")
    found = named or next((p for n in NAMES if (p := shutil.which(n, path=_search_path()))), None)
    if found and Path(found).exists():
        return found
    reason = (
        f"KINGDOM_CHROMIUM names no file: {named}"
        if named
        else f"no Chromium ({', '.join(NAMES)}) on PATH: install it with `apt-get install chromium`"
    )
    if os.environ.get("KINGDOM_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _search_path() -> str:
    return os.pathsep.join(p for p in (os.environ.get("PATH"), FALLBACK_PATH) if p)


class DevToolsError(Exception):
    pass


@dataclass
class Page:
    """One browser tab, attached over the pipe, with the network closed but to ``allowed``."""

    browser: Browser
    session: str
    allowed: str
    requested: list[str] = field(default_factory=list)
    """Every URL the page asked for, in order, allowed or not."""
    refused: list[str] = field(default_factory=list)
    """The URLs it asked for that were not ``allowed``: the browser failed them."""
    exceptions: list[str] = field(default_factory=list)
    """Uncaught JavaScript exceptions."""

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        reply = self.call("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise DevToolsError(f"could not open {url}: {reply['errorText']}")

    def wait_for(self, expression: str, timeout: float) -> Any:
        """Evaluate ``expression`` until it is truthy; its last value (None) after ``timeout``."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.browser.pump(0.1)
        return value

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def on_event(self, message: dict[str, Any]) -> None:
        params = message.get("params", {})
        if message["method"] == "Fetch.requestPaused":
            url = params["request"]["url"]
            self.requested.append(url)
            if url == self.allowed or url.startswith(self.allowed + "/"):
                self.browser.send(
                    "Fetch.continueRequest", {"requestId": params["requestId"]}, self.session
                )
            else:
                self.refused.append(url)
                self.browser.send(
                    "Fetch.failRequest",
                    {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                    self.session,
                )
        elif message["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.exceptions.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )


class Browser:
    """The DevTools protocol over the browser's pipe: commands, replies and events."""

    def __init__(self, commands: int, replies: int) -> None:
        self._commands = commands
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        threading.Thread(target=self._read, args=(replies,), daemon=True).start()

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Send a command and wait for its reply, handling the events that arrive meanwhile."""
        sent = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self._next(left)
            if message is not None and message.get("id") == sent:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
        raise DevToolsError(f"{method}: no reply within {timeout} s")

    def pump(self, seconds: float) -> None:
        """Handle events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._next(left)

    def open_page(self, allowed: str) -> Page:
        """A new tab whose requests go through only to ``allowed`` (an origin)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session, allowed.rstrip("/"))
        self._handlers[session] = page.on_event
        page.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        page.call("Page.enable")
        page.call("Runtime.enable")
        # Runs before the page's own scripts, outside its Content-Security-Policy.
        page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation', e =>"
                " window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
            },
        )
        return page

    def _next(self, timeout: float) -> dict[str, Any] | None:
        try:
            message = self._replies.get(timeout=timeout)
        except queue.Empty:
            return None
        if message is None:
            raise DevToolsError("the browser closed its pipe (crashed or exited)")
        handler = self._handlers.get(message.get("sessionId", ""))
        if "method" in message and handler is not None:
            handler(message)
        return message

    def _read(self, replies: int) -> None:
        buffer = b""
        with os.fdopen(replies, "rb", buffering=0) as stream:
            while chunk := stream.read(1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._replies.put(json.loads(message))
        self._replies.put(None)


@contextlib.contextmanager
def headless_chromium(executable: str, profile: Path) -> Iterator[Browser]:
    """Start Chromium with a fresh profile in ``profile``; close it on exit.

    Its own output goes to ``profile/chromium.log``, to read when it fails.
    """
    to_browser, commands = os.pipe()
    replies, from_browser = os.pipe()

    def pipe_fds() -> None:
        # In the child, between fork and exec: the pipe ends become its fds
        # 3 and 4, by way of fds >= 10 so that neither overwrites the other.
        reading = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10)
        writing = fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
        os.dup2(reading, 3)
        os.dup2(writing, 4)
        os.close(reading)
        os.close(writing)

    profile.mkdir(parents=True, exist_ok=True)
    with open(profile / "chromium.log", "wb") as log:
        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile / 'user-data'}", "about:blank"],
            # Debian's chromium is a shell script: it needs the usual tools on PATH.
            env={
                **os.environ,
                "PATH": _search_path(),
                "HOME": os.environ.get("HOME", str(profile)),
            },
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Our other descriptors are close-on-exec; 3 and 4 must survive.
            close_fds=False,
            preexec_fn=pipe_fds,
        )
    os.close(to_browser)
    os.close(from_browser)
    browser = Browser(commands, replies)
    try:
        yield browser
    finally:
        with contextlib.suppress(DevToolsError):  # it may close its pipe before replying
            browser.call("Browser.close", timeout=10)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(commands)
