"""How fast is the access-control core, and how big is a compiled context?

Prints a table of figures; nothing here asserts a time (machines are noisy).
The size column is the compact JSON of ``PolicyContext.encode()``, the part
of an access token that grows with a user's grants; the ratio is against
8 KiB, a common ceiling for one HTTP header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kingdom.domain.access import (
    Permission,
    Policy,
    PolicyContext,
    authorize,
    compile_policies,
)

HEADER_BUDGET = 8 * 1024


def grants(instance_ids: int) -> list[Policy]:
    """A realistic user: broad grants on two resources, many account instances."""
    policies = [
        Policy.of("users", Permission.READ),
        Policy.of("roles", Permission.READ),
        Policy.of("accounts", Permission.READ | Permission.CREATE),
    ]
    policies += [
        Policy.of("accounts", Permission.UPDATE, f"acc-{n:08d}-0000-4000-8000-000000000000")
        for n in range(instance_ids)
    ]
    return policies


def per_second(operation: Callable[[], object], minimum: float = 0.3) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < minimum:
        for _ in range(100):
            operation()
        count += 100
    return count / elapsed


def row(size: int) -> str:
    policies = grants(size)
    context = compile_policies(policies)
    encoded = json.dumps(context.encode(), separators=(",", ":")).encode()
    assert PolicyContext.decode(json.loads(encoded)) == context
    target = "acc-00000000-0000-4000-8000-000000000000"

    def write_check() -> object:
        if size:
            return authorize(context, "accounts", Permission.UPDATE, target)
        return authorize(context, "accounts", Permission.CREATE)

    compile_rate = per_second(lambda: compile_policies(policies))
    read_rate = per_second(lambda: authorize(context, "accounts", Permission.READ))
    write_rate = per_second(write_check)
    return (
        f"{size:>15} {compile_rate:>11,.0f} {read_rate:>13,.0f} {write_rate:>14,.0f} "
        f"{len(encoded):>11,} {len(encoded) / HEADER_BUDGET:>9.2f}"
    )


def main() -> None:
    print(
        f"{'instance grants':>15} {'compile/s':>11} {'read scope/s':>13} "
        f"{'write check/s':>14} {'JSON bytes':>11} {'of 8 KiB':>9}"
    )
    for size in (0, 10, 100, 1000):
        print(row(size))


if __name__ == "__main__":
    main()
