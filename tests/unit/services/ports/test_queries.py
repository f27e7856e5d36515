from __future__ import annotations

import pytest

from kingdom.domain.shared import Invalid
from kingdom.services.ports import MAX_PAGE_SIZE, Direction, Edge, Page, PageRequest


def test_first_and_last_build_forward_and_backward_requests():
    assert PageRequest.first(10) == PageRequest(10, None, Direction.FORWARD)
    assert PageRequest.last(5, before="c") == PageRequest(5, "c", Direction.BACKWARD)


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1, True])
def test_a_page_size_out_of_bounds_is_invalid(limit):
    with pytest.raises(Invalid):
        PageRequest.first(limit)


def test_an_empty_cursor_is_invalid():
    with pytest.raises(Invalid):
        PageRequest.first(10, after="")


def test_a_page_exposes_items_and_boundary_cursors():
    page = Page(edges=(Edge("c1", "a"), Edge("c2", "b")), has_next=True)

    assert page.items == ("a", "b")
    assert (page.start_cursor, page.end_cursor) == ("c1", "c2")


def test_the_empty_page_reveals_nothing():
    page: Page[str] = Page.empty()
    assert (page.items, page.has_next, page.has_previous, page.total) == ((), False, False, None)
    assert page.start_cursor is page.end_cursor is None
