"""The upsert's rules, applied in Python (records.customers.merged)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from claybridge.records.customers import merged

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _params(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "cus_new",
        "domain": "acme.com",
        "name": "Acme",
        "website_url": "https://acme.com",
        "owner_id": None,
        "stage": None,
        "arr": None,
        "renewal_date": None,
        "source_id": "src_1",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return {**base, **changes}


def test_nothing_stored_means_created_with_every_value_as_sent() -> None:
    """Without a stored row the answer is the sent row, created, its amount in cents."""
    row, created = merged(None, _params(arr=Decimal("120000.505"), stage="Won"))
    assert created
    assert row["id"] == "cus_new"
    assert row["arr"] == Decimal("120000.50")  # Money's own rounding (half to even)
    assert row["arr"].as_tuple().exponent == -2
    assert row["stage"] == "Won"


def test_update_keeps_id_created_at_and_unsent_optional_values() -> None:
    """An update keeps the id, created_at and every optional value sent as None."""
    earlier = NOW - timedelta(days=3)
    stored = {
        **_params(id="cus_old", created_at=earlier, updated_at=earlier),
        "owner_id": "own_1",
        "stage": "Lead",
        "arr": Decimal("10.00"),
        "renewal_date": date(2026, 1, 1),
        "name": "Old name",
    }
    row, created = merged(stored, _params(name="Acme Inc", stage="Won"))
    assert not created
    assert row["id"] == "cus_old"
    assert row["created_at"] == earlier
    assert row["updated_at"] == NOW
    assert row["name"] == "Acme Inc"
    assert row["stage"] == "Won"
    assert (row["owner_id"], row["arr"], row["renewal_date"]) == (
        "own_1",
        Decimal("10.00"),
        date(2026, 1, 1),
    )
    assert stored["stage"] == "Lead", "the stored row passed in is not changed"


def test_times_come_back_in_utc() -> None:
    """A time given in another zone comes back as the same instant in UTC."""
    paris = datetime(2026, 11, 30, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    row, _created = merged(None, _params(created_at=paris, updated_at=paris))
    assert row["updated_at"].tzinfo is UTC
    assert row["updated_at"] == paris
