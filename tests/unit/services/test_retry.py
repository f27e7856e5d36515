from __future__ import annotations

import pytest

from kingdom.services.retry import RetryPolicy


def test_the_delay_doubles_up_to_the_cap_and_is_jittered_below_it():
    policy = RetryPolicy(base_delay=0.1, max_delay=0.3, random=lambda: 0.5)

    assert [policy.delay(n) for n in (1, 2, 3, 4)] == pytest.approx([0.05, 0.1, 0.15, 0.15])


def test_jitter_spans_zero_to_the_cap():
    assert RetryPolicy(base_delay=0.1, random=lambda: 0.0).delay(1) == 0.0
    assert RetryPolicy(base_delay=0.1, random=lambda: 0.999).delay(1) < 0.1


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"base_delay": -1.0}, {"base_delay": 1.0, "max_delay": 0.5}],
)
def test_nonsense_policies_are_refused(kwargs):
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(**kwargs)


async def test_backoff_sleeps_for_the_delay():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    await RetryPolicy(base_delay=0.2, sleep=sleep, random=lambda: 1.0).backoff(1)
    assert slept == [0.2]
