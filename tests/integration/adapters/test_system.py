from datetime import UTC, datetime

from kingdom.adapters.system import SystemClock, UuidIds


def test_the_system_clock_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_ids_are_unique_printable_and_short() -> None:
    ids = UuidIds()
    drawn = {ids.new_id() for _ in range(1000)}
    assert len(drawn) == 1000
    assert all(len(i) == 36 and i.isprintable() and " " not in i for i in drawn)
