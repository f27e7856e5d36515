import pytest

from kingdom.domain.access import Permission
from kingdom.domain.shared import Invalid


def test_flags_have_stable_values_because_tokens_store_them() -> None:
    assert [int(p) for p in Permission] == [1, 2, 4, 8]
    assert int(Permission.NONE) == 0
    assert int(Permission.ALL) == 15


def test_flags_combine() -> None:
    granted = Permission.READ | Permission.UPDATE
    assert Permission.READ in granted
    assert Permission.DELETE not in granted
    assert list(Permission.ALL) == [
        Permission.READ,
        Permission.CREATE,
        Permission.UPDATE,
        Permission.DELETE,
    ]


def test_parse_combines_names_case_insensitively() -> None:
    assert Permission.parse(["read", " UPDATE "]) == Permission.READ | Permission.UPDATE
    assert Permission.parse(["all"]) == Permission.ALL
    assert Permission.parse([]) == Permission.NONE


def test_parse_takes_a_single_string_as_one_name() -> None:
    assert Permission.parse("delete") == Permission.DELETE


@pytest.mark.parametrize("names", [["read", "write"], [""], ["READ|UPDATE"], [1]])
def test_parse_refuses_unknown_names(names: list[object]) -> None:
    with pytest.raises(Invalid, match="unknown permission"):
        Permission.parse(names)  # type: ignore[arg-type]
