"""The README cannot drift from the code: its settings and commands are checked here.

Its walk-through (the curl session and the reuse example) is run against a
real server by ``tests/e2e/test_readme_walkthrough.py``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from kingdom.entrypoints.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
GOALS = {"run", "test", "lint", "fmt", "check", "package", "generate-lockfiles", "peek"}


class RecordingEnviron(dict[str, str]):
    """An empty environment that notes every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> str | None:  # type: ignore[override]
        self.asked.add(key)
        return None


def documented_settings() -> set[str]:
    """The ``KINGDOM_*`` names in the first column of the README's settings table."""
    rows = re.findall(r"^\| (`KINGDOM_[^|]+) \|", README, flags=re.MULTILINE)
    return {name for row in rows for name in re.findall(r"`(KINGDOM_[A-Z_]+)`", row)}


def test_every_setting_is_documented_and_every_documented_one_is_read() -> None:
    environ = RecordingEnviron()
    Settings.from_environ(environ)
    read = {name for name in environ.asked if name.startswith(PREFIX)}

    documented = documented_settings()

    assert read - documented == set(), "settings missing from the README's table"
    assert documented - read == set(), "the README documents settings nothing reads"


def bash_blocks() -> Iterator[str]:
    yield from re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL)


def pants_commands() -> Iterator[list[str]]:
    """Every ``./pants ...`` command in the README's shell blocks, as words."""
    for block in bash_blocks():
        for line in block.replace("\\\n", " ").splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if "./pants " in command:
                words = shlex.split(command[command.index("./pants ") :])
                yield words[1:]


def build_targets(directory: Path) -> set[str]:
    build = directory / "BUILD"
    if not build.exists():
        return set()
    return set(re.findall(r'\bname="([^"]+)"', build.read_text(encoding="utf-8")))


def test_pants_commands_put_global_options_first_and_name_real_targets() -> None:
    commands = list(pants_commands())
    assert len(commands) >= 10, commands

    for words in commands:
        goal_at = next((i for i, word in enumerate(words) if word in GOALS), None)
        assert goal_at is not None, words
        # `--tag` and friends are global: after the goal Pants refuses them.
        assert not any(word.startswith("--tag") for word in words[goal_at:]), words
        specs = [w for w in words[goal_at + 1 :] if not w.startswith("-")]
        if "--" in words:
            specs = specs[: words[goal_at + 1 :].index("--")]
        for spec in specs:
            if spec == "::" or spec.endswith("::"):
                continue
            if ":" in spec:
                path, name = spec.split(":", 1)
                assert name in build_targets(ROOT / path), f"no target {spec!r}: {words}"
            else:
                assert (ROOT / spec).exists(), f"no file {spec!r}: {words}"
