"""The W3C trace context: what is a valid ``traceparent``, new traces, children, the current one."""

from __future__ import annotations

import asyncio

import pytest

from kingdom.services.injection import DependencyError
from kingdom.services.tracing import (
    NO_TRACER,
    TRACER,
    child_trace_parent,
    continue_trace,
    current_trace_id,
    current_trace_parent,
    in_trace,
    new_trace_parent,
    parse_traceparent,
    trace_id_of,
    tracer_in,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def assert_well_formed(trace_parent: str) -> None:
    assert parse_traceparent(trace_parent) == trace_parent


@pytest.mark.parametrize(
    "value",
    [
        VALID,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",  # not sampled
        "00-00000000000000000000000000000001-0000000000000001-ff",
    ],
)
def test_a_valid_version_00_traceparent_is_kept(value: str) -> None:
    assert parse_traceparent(value) == value
    assert parse_traceparent(value.encode("ascii")) == value  # as a header's bytes


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # trace id all zeros
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # parent id all zeros
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # uppercase: the spec refuses
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # v00 has no more fields
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a version we do not know
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",  # short parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # one-digit flags
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  # not hex
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  # wrong separators
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # padded
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",  # not ASCII, still 55 long
    ],
)
def test_anything_else_is_not_a_traceparent(value: str | None) -> None:
    assert parse_traceparent(value) is None
    if value is not None:
        assert parse_traceparent(value.encode()) is None


def test_a_new_trace_is_well_formed_random_and_sampled() -> None:
    first, second = new_trace_parent(), new_trace_parent()

    assert_well_formed(first)
    assert first.endswith("-01")
    assert trace_id_of(first) != trace_id_of(second)


def test_a_new_trace_takes_its_ids_from_random_digits_given_to_it() -> None:
    digits = TRACE_ID + "00f067aa0ba902b7"
    drawn_again = new_trace_parent("0" * 48)  # all-zero ids are invalid

    assert new_trace_parent(digits) == f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    assert_well_formed(drawn_again)
    assert trace_id_of(drawn_again) != "0" * 32


def test_a_child_keeps_the_trace_and_flags_with_a_new_span_id() -> None:
    child = child_trace_parent(VALID)

    assert_well_formed(child)
    assert trace_id_of(child) == TRACE_ID
    assert child[36:52] != VALID[36:52]
    assert child.endswith("-01")
    assert child_trace_parent(VALID.replace("-01", "-00"))[-3:] == "-00"


def test_a_request_continues_a_valid_offer_and_otherwise_starts_afresh() -> None:
    continued = continue_trace(VALID.encode())
    assert trace_id_of(continued) == TRACE_ID
    assert continued != VALID  # the server's own span, not the client's

    for offered in (None, b"garbage", VALID.upper()):
        fresh = continue_trace(offered)
        assert_well_formed(fresh)
        assert trace_id_of(fresh) != TRACE_ID


def test_in_trace_sets_the_current_trace_for_the_block_only() -> None:
    assert current_trace_parent() is None
    with in_trace(VALID) as entered:
        assert entered == VALID
        assert current_trace_parent() == VALID
        assert current_trace_id() == TRACE_ID
        with in_trace(None):  # a message without a trace has none, not its neighbour's
            assert current_trace_parent() is None
        assert current_trace_parent() == VALID
    assert current_trace_parent() is None
    assert current_trace_id() is None


def test_in_trace_refuses_what_comes_from_outside_malformed() -> None:
    with in_trace("00-not-a-trace") as entered:
        assert entered is None
        assert current_trace_parent() is None


async def test_each_task_sees_its_own_trace() -> None:
    seen: dict[str, str | None] = {}

    async def work(name: str, trace_parent: str) -> None:
        with in_trace(trace_parent):
            await asyncio.sleep(0)
            seen[name] = current_trace_id()

    other = new_trace_parent()
    await asyncio.gather(work("a", VALID), work("b", other))

    assert seen == {"a": TRACE_ID, "b": trace_id_of(other)}


def test_the_no_op_tracer_records_nothing_and_leaves_the_trace_alone() -> None:
    with in_trace(VALID), NO_TRACER.span("anything", VALID, kind="server") as span:
        span.set_attribute("key", 1)
        span.set_error("ignored")
        assert span.trace_parent is None
        assert current_trace_parent() == VALID


def test_the_tracer_comes_from_the_dependencies_or_is_the_no_op() -> None:
    assert tracer_in({}) is NO_TRACER
    assert tracer_in({TRACER: NO_TRACER}) is NO_TRACER
    with pytest.raises(DependencyError, match="not a Tracer"):
        tracer_in({TRACER: object()})
