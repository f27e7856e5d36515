import pytest
from hypothesis import given
from hypothesis import strategies as st

from kingdom.domain.identity import MAX_EMAIL_LENGTH, normalise_email
from kingdom.domain.shared import Invalid


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ann@example.org", "ann@example.org"),
        ("  Ann.Lee+news@Example.ORG \n", "ann.lee+news@example.org"),
        ("x@a.b.c", "x@a.b.c"),
    ],
)
def test_an_address_is_stripped_and_lower_cased(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "ann",
        "ann@",
        "@example.org",
        "ann@@example.org",
        "ann@bob@example.org",
        "ann@localhost",
        "ann@.org",
        "ann@example.",
        "ann@exa..mple.org",
        "ann lee@example.org",
        "ann@exam\tple.org",
        "ann\x00@example.org",
        "a" * (MAX_EMAIL_LENGTH - len("@example.org") + 1) + "@example.org",
    ],
)
def test_anything_that_is_no_address_is_invalid(raw: str) -> None:
    with pytest.raises(Invalid):
        normalise_email(raw)


def test_the_longest_allowed_address_is_accepted() -> None:
    raw = "a" * (MAX_EMAIL_LENGTH - len("@example.org")) + "@example.org"
    assert len(normalise_email(raw)) == MAX_EMAIL_LENGTH


labels = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
    min_size=1,
    max_size=10,
)


@given(
    local=labels,
    domain=st.lists(labels, min_size=2, max_size=4),
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_normalising_is_idempotent_and_case_insensitive(
    local: str, domain: list[str], pad: str
) -> None:
    raw = f"{pad}{local}@{'.'.join(domain)}{pad}"
    once = normalise_email(raw)
    assert normalise_email(once) == once
    assert normalise_email(raw.upper()) == once
    assert once == once.strip().lower()
