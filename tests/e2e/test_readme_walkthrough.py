"""The README's walk-through, run as written against a real server.

Every shell block marked ``<!-- walkthrough -->`` in README.md runs, in order,
in one bash session (``set -euo pipefail``) in a directory holding the
server's data directory ``.kingdom`` — as a newcomer would run them at the
repository root. The blocks call ``./pants run packages/entrypoints:<name>``;
here a stand-in ``./pants`` runs the module that target names in
``packages/entrypoints/BUILD``, since Pants cannot run inside its own test.
Every GraphQL answer must be free of errors, and the last ones must show the
money where the walk-through put it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from e2e.server import RunningServer, run_server

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
WALKTHROUGH = re.findall(r"<!-- walkthrough -->\n```bash\n(.*?)```", README, flags=re.DOTALL)
REUSE = re.findall(r"<!-- reuse example -->\n```python\n(.*?)```", README, flags=re.DOTALL)
ENTRY_POINTS = dict(
    re.findall(
        r'name="([^"]+)",\s*entry_point="([\w.]+):main"',
        (ROOT / "packages/entrypoints/BUILD").read_text(encoding="utf-8"),
    )
)

STAND_IN_PANTS = """#!{python}
# Stands in for ./pants in the README test: `run packages/entrypoints:NAME -- ARGS`
# runs the module NAME's pex_binary names, with ARGS.
import os, sys
modules = {modules!r}
goal, target, *rest = sys.argv[1:]
assert goal == "run" and target.startswith("packages/entrypoints:"), sys.argv
args = rest[1:] if rest[:1] == ["--"] else rest
module = modules[target.split(":", 1)[1]]
os.execv(sys.executable, [sys.executable, "-m", module, *args])
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("newcomer")


@pytest.fixture(scope="module")
def server(backend: dict[str, str], workdir: Path) -> Iterator[RunningServer]:
    with run_server(workdir / ".kingdom", backend) as running:
        yield running


def stand_in_pants(workdir: Path) -> None:
    pants = workdir / "pants"
    pants.write_text(STAND_IN_PANTS.format(python=sys.executable, modules=ENTRY_POINTS))
    pants.chmod(pants.stat().st_mode | stat.S_IXUSR)


def answers(output: str) -> list[dict[str, Any]]:
    """The JSON documents ``output`` holds one after another (curl adds no newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(output, at)
        found.append(document)
    return found


def test_the_readme_has_a_walkthrough_that_uses_the_admin_command() -> None:
    assert len(WALKTHROUGH) >= 5
    assert "admin" in ENTRY_POINTS
    assert any("./pants run packages/entrypoints:admin" in block for block in WALKTHROUGH)


def test_the_walkthrough_runs_as_written(
    server: RunningServer, workdir: Path, backend: dict[str, str]
) -> None:
    stand_in_pants(workdir)
    script = "set -euo pipefail\n" + "\n".join(WALKTHROUGH)
    environment = {
        **os.environ,
        "KINGDOM": server.base_url,
        "KINGDOM_DATA_DIR": str(workdir / ".kingdom"),
        # Absolute: the walk-through runs in its own directory.
        "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p),
        **backend,
    }
    environment.pop("TOKEN", None)

    done = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    replies = answers(done.stdout)
    assert len(replies) >= 8, done.stdout  # the others are captured into variables
    for reply in replies:
        assert "errors" not in reply, reply
    balances = sorted(
        edge["node"]["balance"]
        for reply in replies
        if "accounts" in reply.get("data", {})
        for edge in reply["data"]["accounts"]["edges"]
    )
    assert balances == ["2500", "7500"]
    assert replies[-1]["data"]["users"]["totalCount"] >= 2
    assert {"data": {"resetPassword": {"passwordChanged": True}}} in replies


def test_the_reuse_example_authorizes_with_a_real_token(
    server: RunningServer, workdir: Path
) -> None:
    """The ``kingdom-domain`` example, fed a token the server issued."""
    (block,) = REUSE
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md (reuse example)", "exec"), namespace)
    email, password = "reuser@example.org", "correct horse battery"
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        http.post(
            "/graphql",
            json={
                "query": "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }",
                "variables": {"i": {"email": email, "displayName": "Reuser", "password": password}},
            },
        ).raise_for_status()
        token = http.post(
            "/graphql",
            json={
                "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                "variables": {"i": {"email": email, "password": password}},
            },
        ).json()["data"]["login"]["accessToken"]
    key = (workdir / ".kingdom" / "signing.key").read_text().strip()
    claims = jwt.decode(token, key, algorithms=["HS256"], audience="kingdom-api")

    handle_request = namespace["handle_request"]
    mine = handle_request(token, key, claims["sub"])
    theirs = handle_request(token, key, "someone-else")

    assert mine == "may update"
    assert theirs == "refused: FORBIDDEN accounts UPDATE"
