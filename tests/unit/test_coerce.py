"""Coercion of Clay's cell strings (pure, no server)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from claybridge.core import coerce


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("120000", "120000"),
        ("$120,000", "120000"),
        ("120,000.50", "120000.50"),
        ("120k", "120000"),
        ("120K", "120000"),
        ("1.2M", "1200000"),
        ("2.5mm", "2500000"),
        ("1bn", "1000000000"),
        ("USD 1,000", "1000"),
        ("1000 EUR", "1000"),
        ("€1.234,50", "1234.50"),
        ("1.234.567", "1234567"),
        ("95,5", "95.5"),
        ("(1,000)", "-1000"),
        ("0.125", "0.125"),
        (" 42 ", "42"),
        ("1 000 000", "1000000"),
        (120000, "120000"),
        (99.5, "99.5"),
    ],
)
def test_number_accepts_human_formats(raw: object, expected: str) -> None:
    """Currency symbols, grouping, suffixes and decimal commas all read as the same number."""
    assert coerce.number(raw) == Decimal(expected)


def test_number_fast_path_agrees_with_the_full_rules() -> None:
    """Every common amount shape read directly gives what the full rules give."""
    shapes = []
    for whole in ("0", "7", "42", "999", "1,000", "12,345", "120,000", "1,234,567", "1000000"):
        for fraction in ("", ".5", ".50", ".05"):
            shapes += [whole + fraction, "$" + whole + fraction]
    for raw in shapes:
        assert coerce.PLAIN_AMOUNT.match(raw), raw
        assert coerce.number(raw) == coerce.number_by_rules(raw), raw
        by_rules = coerce.number_by_rules(raw).quantize(Decimal("0.01"))
        assert str(coerce.money(raw)) == str(by_rules), raw  # money's own short path
    for raw in ("1.500", "0.125", "1,23", "12,34,567", "$ 5", "5$"):  # left to the full rules
        assert not coerce.PLAIN_AMOUNT.match(raw), raw


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_number_blank_means_no_value(raw: object) -> None:
    """An empty cell or a missing key is "no value", not zero."""
    assert coerce.number(raw) is None


@pytest.mark.parametrize("raw", ["€95.000", "1.500", "$2.250"])
def test_number_refuses_ambiguous_grouping(raw: str) -> None:
    """A lone dot before exactly three digits could be 1000x off, so it is refused."""
    with pytest.raises(ValueError, match="ambiguous"):
        coerce.number(raw)


@pytest.mark.parametrize("raw", ["abc", "acme.com", "1.2.3.4", "12,34,567", "1e5", "$", "N/A"])
def test_number_refuses_non_numbers(raw: str) -> None:
    """Text that is not a number is refused with a message naming the value."""
    with pytest.raises(ValueError, match="not a number"):
        coerce.number(raw)


def test_number_refuses_booleans() -> None:
    """true/false are not numbers even though Python treats them as ints."""
    with pytest.raises(ValueError, match="true/false"):
        coerce.number(True)


def test_money_rounds_to_cents_and_refuses_negative() -> None:
    """Money is quantised to cents and may not be negative."""
    assert coerce.money("1,234.567") == Decimal("1234.57")
    with pytest.raises(ValueError, match="negative"):
        coerce.money("-5")


@pytest.mark.parametrize(
    ("raw", "order", "expected"),
    [
        ("2026-03-01", "MDY", date(2026, 3, 1)),
        ("2026-03-01T23:30:00-05:00", "MDY", date(2026, 3, 1)),
        ("2026-03-01T10:00:00Z", "MDY", date(2026, 3, 1)),
        ("03/01/2026", "MDY", date(2026, 3, 1)),
        ("03/01/2026", "DMY", date(2026, 1, 3)),
        ("3-1-2026", "MDY", date(2026, 3, 1)),
        ("March 1, 2026", "MDY", date(2026, 3, 1)),
        ("Mar 1, 2026", "MDY", date(2026, 3, 1)),
        ("1 March 2026", "MDY", date(2026, 3, 1)),
        ("March 1st, 2026", "MDY", date(2026, 3, 1)),
        ("2026/03/01", "MDY", date(2026, 3, 1)),
    ],
)
def test_calendar_date_formats(raw: str, order: str, expected: date) -> None:
    """ISO dates and datetimes, slash dates in the configured order and long dates parse."""
    assert coerce.calendar_date(raw, order) == expected


def test_calendar_date_refuses_impossible_slash_date() -> None:
    """13/01/2026 under MDY is refused, not silently read as DMY."""
    with pytest.raises(ValueError, match="MM/DD/YYYY"):
        coerce.calendar_date("13/01/2026", "MDY")


@pytest.mark.parametrize("raw", ["soon", "2026-02-30", "31/31/2026", "tomorrow"])
def test_calendar_date_refuses_garbage(raw: str) -> None:
    """Values that are not dates are refused."""
    with pytest.raises(ValueError, match="date"):
        coerce.calendar_date(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "https://www.Acme.com/about",
        "acme.com",
        "ACME.COM.",
        "http://acme.com:8080",
        "www.acme.com/pricing?x=1#top",
        "//acme.com",
        "https://user:pw@acme.com/",
    ],
)
def test_domain_normalises_to_the_same_customer(raw: str) -> None:
    """Scheme, www., path, port, case, credentials and trailing dot are removed."""
    assert coerce.domain(raw) == "acme.com"


def test_domain_fast_pattern_finds_the_same_host() -> None:
    """Every URL the one-pattern path reads gives the host the general steps give."""
    urls = [
        "https://www.Acme.com/about",
        "http://acme.com:8080",
        "acme.com.",
        "sub.acme.co.uk?x=1",
        "https://acme.com#top",
        "https://-bad-.com/",
        "acme.com:8080:9",
        "1.2.3.4",
    ]
    for url in urls:
        plain = coerce.PLAIN_URL.match(url)
        if plain is not None:
            assert plain.group(1).rstrip(".").lower() == coerce.host_of(url), url
    general = ("HTTPS://a.com", "https://u:p@a.com/", "//a.com", "https://[::1]/", "a.com:")
    for url in general:
        assert coerce.PLAIN_URL.match(url) is None, url


def test_domain_keeps_subdomains_and_converts_idna() -> None:
    """Only www. is dropped; international names become their ASCII form."""
    assert coerce.domain("https://eu.acme.co.uk/") == "eu.acme.co.uk"
    assert coerce.domain("münchen.de") == "xn--mnchen-3ya.de"


@pytest.mark.parametrize(
    "raw", ["localhost", "n/a", "http://", "1.2.3.4", "[::1]", "-bad-.com", "a b.com", "1.2M"]
)
def test_domain_refuses_values_without_a_domain(raw: str) -> None:
    """A value with no plausible public host name is refused."""
    with pytest.raises(ValueError, match="domain"):
        coerce.domain(raw)


def test_email_is_lowercased_and_checked() -> None:
    """Emails are trimmed and lower-cased; malformed ones are refused."""
    assert coerce.email(" Ada@Example.COM ") == "ada@example.com"
    with pytest.raises(ValueError, match="not an email"):
        coerce.email("ada-at-example.com")


def test_text_rejects_structures_and_renders_numbers() -> None:
    """Text fields take strings and numbers, not objects or lists."""
    assert coerce.text(42) == "42"
    with pytest.raises(ValueError, match="expected text"):
        coerce.text({"a": 1})


@pytest.mark.parametrize(
    "raw", ["03/01/2026", " 03/01/2026 ", "3-1-2026", "31.12.2026", "13/01/2026", "02/30/2026"]
)
@pytest.mark.parametrize("order", ["MDY", "DMY"])
def test_calendar_date_reads_slash_dates_alike_with_or_without_spaces(raw: str, order: str) -> None:
    """A slash date with surrounding spaces (the general path) reads, or is refused, as
    the same date without them (the short path)."""

    def read(value: str) -> object:
        try:
            return coerce.calendar_date(value, order)
        except ValueError as exc:
            return str(exc)

    assert read(raw) == read(raw.strip())
