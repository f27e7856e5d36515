"""Binding handlers to dependencies: every mistake is caught when the bus is built."""

from __future__ import annotations

import pytest

from kingdom.services.injection import UOW, DependencyError, bind


async def handler(message: object, clock: object, uow: object, limit: int = 3) -> None:
    pass


def test_bind_resolves_named_dependencies_and_notes_the_unit_of_work():
    clock = object()

    bound = bind(handler, {"clock": clock, "unused": 1})

    assert bound.dependencies == {"clock": clock}
    assert bound.wants_uow
    assert bound.name == "handler"


def test_uow_is_reserved_for_the_factory():
    with pytest.raises(DependencyError, match="factory"):
        bind(handler, {"clock": 1, UOW: object()})


def test_a_synchronous_handler_is_refused():
    def sync(message: object) -> None:
        pass

    with pytest.raises(DependencyError, match="async"):
        bind(sync, {})  # type: ignore[arg-type]


def test_a_handler_must_take_the_message_first():
    async def nothing() -> None:
        pass

    async def keyword_only(*, message: object) -> None:
        pass

    for wrong in (nothing, keyword_only):
        with pytest.raises(DependencyError, match="message first"):
            bind(wrong, {})


def test_catch_all_parameters_are_refused():
    async def star_args(message: object, *args: object) -> None:
        pass

    async def star_kwargs(message: object, **kwargs: object) -> None:
        pass

    for wrong in (star_args, star_kwargs):
        with pytest.raises(DependencyError, match="matched by name"):
            bind(wrong, {})


def test_a_positional_only_dependency_is_refused():
    async def positional(message: object, clock: object, /) -> None:
        pass

    with pytest.raises(DependencyError, match="by name"):
        bind(positional, {"clock": 1})


def test_the_error_lists_what_is_available():
    with pytest.raises(DependencyError) as raised:
        bind(handler, {"ids": 1})
    assert "'clock'" in str(raised.value)
    assert "ids, uow" in str(raised.value)
