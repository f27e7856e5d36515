"""Reads Pants' JUnit reports: fails if no test ran, or if Postgres tests
were skipped while CI said Postgres is available."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(report_dir: str) -> int:
    cases = [case for path in Path(report_dir).rglob("*.xml") for case in ET.parse(path).iter("testcase")]
    skipped = [case for case in cases if case.find("skipped") is not None]
    failed = [case for case in cases if case.find("failure") is not None or case.find("error") is not None]
    ran = len(cases) - len(skipped)
    # Postgres tests are named for it ("[postgres]" ids, test_postgres_* modules);
    # the unit layer never touches a database, whatever a test's name says.
    postgres = [
        c
        for c in cases
        if "postgres" in (c.get("name", "") + c.get("classname", "")).lower()
        and not c.get("classname", "").startswith("tests.unit.")
    ]
    postgres_ran = [c for c in postgres if c.find("skipped") is None]
    print(
        f"test report: {len(cases)} collected, {ran} ran, {len(skipped)} skipped, "
        f"{len(failed)} failed; {len(postgres_ran)}/{len(postgres)} Postgres tests ran"
    )
    if ran == 0:
        print("CI: no test ran", file=sys.stderr)
        return 1
    if os.environ.get("KINGDOM_REQUIRE_POSTGRES") == "1":
        if not postgres_ran or len(postgres_ran) != len(postgres):
            print("CI: PostgreSQL is reachable but Postgres tests were skipped", file=sys.stderr)
            return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
