"""Checks the five wheels: one per ring, each depending only on the rings it
may use, and kingdom-domain depending on nothing and importing on its own in
a fresh Python 3.11 venv."""

from __future__ import annotations

import email.parser
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ALLOWED_RINGS = {
    "kingdom-domain": set(),
    "kingdom-services": {"kingdom-domain"},
    "kingdom-adapters": {"kingdom-domain", "kingdom-services"},
    "kingdom-workers": {"kingdom-domain", "kingdom-services", "kingdom-adapters"},
    "kingdom-server": {"kingdom-domain", "kingdom-services", "kingdom-adapters", "kingdom-workers"},
}
# Rings that may not use third-party code at all.
STDLIB_ONLY = {"kingdom-domain", "kingdom-services"}


def requirements(wheel: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    return metadata["Name"], metadata.get_all("Requires-Dist") or []


def main(dist: str) -> int:
    wheels = sorted(Path(dist).rglob("*.whl"))
    errors: list[str] = []
    found: dict[str, Path] = {}
    for wheel in wheels:
        name, requires = requirements(wheel)
        found[name] = wheel
        first_party = {re.split(r"[\s(=<>!;\[]", r, maxsplit=1)[0] for r in requires if r.startswith("kingdom-")}
        print(f"{wheel.name}: requires {requires or 'nothing'}")
        if name not in ALLOWED_RINGS:
            errors.append(f"unexpected distribution {name}")
            continue
        if not first_party <= ALLOWED_RINGS[name]:
            errors.append(f"{name} depends on {sorted(first_party - ALLOWED_RINGS[name])}, which it may not")
        if name in STDLIB_ONLY and len(requires) != len(first_party):
            errors.append(f"{name} may not depend on third-party code: {requires}")
    if set(found) != set(ALLOWED_RINGS):
        errors.append(f"expected wheels {sorted(ALLOWED_RINGS)}, found {sorted(found)}")
    if "kingdom-domain" in found:
        errors += install_alone(found["kingdom-domain"])
    for error in errors:
        print(f"CI: {error}", file=sys.stderr)
    return 1 if errors else 0


def install_alone(wheel: Path) -> list[str]:
    """Install the domain wheel with no index: any dependency would fail."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
        pip = [str(venv / "bin/python"), "-m", "pip", "install", "--no-index", "--quiet", str(wheel)]
        subprocess.run(pip, check=True, env=env)
        listed = subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze", "--exclude", "pip", "--exclude", "setuptools"],
            check=True, env=env, capture_output=True, text=True,
        ).stdout.split()
        imported = subprocess.run([str(venv / "bin/python"), "-c", "import kingdom.domain"], env=env)
    print(f"fresh venv with kingdom-domain holds: {listed}")
    errors = []
    if [p.split("==")[0] for p in listed] != ["kingdom-domain"]:
        errors.append(f"installing kingdom-domain pulled in {listed}")
    if imported.returncode != 0:
        errors.append("import kingdom.domain failed in a fresh venv")
    return errors


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
