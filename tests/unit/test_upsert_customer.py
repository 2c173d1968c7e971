"""Validation of the customer row (pure, no server)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from claybridge.errors import InvalidField, MissingField
from claybridge.mapping.customer import parse_customer


def test_full_row() -> None:
    """Every field of a Clay account row is coerced to its type."""
    data = parse_customer(
        {
            "name": " Acme ",
            "websiteUrl": "https://www.acme.com/about",
            "owner": "Ada Lovelace",
            "ownerEmail": "ADA@example.com",
            "stage": "Closed Won",
            "arr": "$120,000",
            "renewalDate": "03/01/2026",
        }
    )
    assert data.name == "Acme"
    assert data.domain == "acme.com"
    assert data.website_url == "https://www.acme.com/about"
    assert data.owner_email == "ada@example.com"
    assert data.arr == Decimal("120000.00")
    assert data.renewal_date == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"websiteUrl": "acme.com"}, "name"),
        ({"name": "", "websiteUrl": "acme.com"}, "name"),
        ({"name": "   ", "websiteUrl": "acme.com"}, "name"),
        ({"name": "Acme"}, "websiteUrl"),
        ({"name": "Acme", "websiteUrl": ""}, "websiteUrl"),
        ({}, "name"),
    ],
)
def test_missing_required_field(body: dict[str, str], field: str) -> None:
    """Missing or blank name / websiteUrl is a missing_field error naming the field."""
    with pytest.raises(MissingField) as info:
        parse_customer(body)
    assert info.value.field == field
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [("arr", "lots"), ("renewalDate", "someday"), ("websiteUrl", "n/a"), ("ownerEmail", "ada")],
)
def test_invalid_field(field: str, value: str) -> None:
    """Unusable values are invalid_field (422) naming the field."""
    with pytest.raises(InvalidField) as info:
        parse_customer({"name": "Acme", "websiteUrl": "acme.com", field: value})
    assert info.value.field == field
    assert info.value.status_code == 422


def test_blank_optional_fields_mean_unchanged() -> None:
    """Empty optional cells become None (leave the stored value alone)."""
    data = parse_customer(
        {"name": "Acme", "websiteUrl": "acme.com", "arr": "", "stage": " ", "renewalDate": ""}
    )
    assert (data.arr, data.stage, data.renewal_date, data.owner_name) == (None, None, None, None)


def test_date_order_is_configurable() -> None:
    """DMY reads 03/01/2026 as 3 January."""
    data = parse_customer(
        {"name": "A", "websiteUrl": "a.com", "renewalDate": "03/01/2026"}, date_order="DMY"
    )
    assert data.renewal_date == date(2026, 1, 3)
