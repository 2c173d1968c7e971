"""Records on a real database: owners, sources, customers (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from claybridge.errors import AmbiguousOwner, ClaybridgeError, Conflict, NotFound, UnknownOwner
from claybridge.mapping.customer import parse_customer
from claybridge.records import customers, owners, sources
from claybridge.security import matches
from claybridge.storage.database import Database
from claybridge.storage.tables import owners as owners_table
from tests.conftest import now


def test_owner_resolution(db: Database) -> None:
    """ownerEmail resolves by email and wins; owner resolves by folded display name."""
    with db.write() as conn:
        ada = owners.add(conn, "Ada  Lovelace", "Ada@Example.com", now())
        grace = owners.add(conn, "Grace Hopper", "grace@example.com", now())
    with db.read() as conn:
        assert owners.resolve(conn, name="ada lovelace", email=None)["id"] == ada["id"]
        assert (
            owners.resolve(conn, name="Ada Lovelace", email="grace@example.com")["id"]
            == (grace["id"])
        )
        assert owners.resolve(conn, name=None, email=None) is None
        with pytest.raises(UnknownOwner):
            owners.resolve(conn, name="Nobody", email=None)
        with pytest.raises(UnknownOwner):
            owners.resolve(conn, name=None, email="nobody@example.com")


def test_ambiguous_owner_says_to_send_owner_email(db: Database) -> None:
    """Two owners with one display name make `owner` ambiguous, and the message says why."""
    with db.write() as conn:
        owners.add(conn, "Sam Lee", "sam1@example.com", now())
        owners.add(conn, "Sam Lee", "sam2@example.com", now())
    with db.read() as conn, pytest.raises(AmbiguousOwner, match="ownerEmail"):
        owners.resolve(conn, name="Sam Lee", email=None)


def test_owner_email_is_unique(db: Database) -> None:
    """Adding an owner with a taken email is a conflict."""
    with db.write() as conn:
        owners.add(conn, "Ada", "ada@example.com", now())
    with db.write() as conn, pytest.raises(Conflict):
        owners.add(conn, "Ada Again", "ADA@example.com", now())


def test_owner_csv_import_is_all_or_nothing(db: Database) -> None:
    """A CSV with one bad row changes nothing and names the line; a good one adds and renames."""
    with db.write() as conn:
        owners.add(conn, "Ada L", "ada@example.com", now())
    bad = "name,email\nGrace Hopper,grace@example.com\nNo Email,\n"
    with db.write() as conn, pytest.raises(ClaybridgeError, match="line 3"):
        owners.import_csv(conn, bad, now())
    with db.read() as conn:
        assert len(owners.list_all(conn)) == 1
    good = "Email,Name\ngrace@example.com,Grace Hopper\nada@example.com,Ada Lovelace\n"
    with db.write() as conn:
        result = owners.import_csv(conn, good, now())
    assert result.added == ["grace@example.com"]
    assert result.updated == ["ada@example.com"]
    with db.read() as conn:
        assert owners.find(conn, "ada@example.com")["name"] == "Ada Lovelace"


def test_source_token_rotation_and_disconnect(db: Database) -> None:
    """Rotation replaces the stored hash; disconnect removes it; rotating reconnects."""
    with db.write() as conn:
        row, token = sources.create(conn, "Clay", "clay-customers", now())
    assert row.token_hash != token
    with db.write() as conn:
        rotated, new_token = sources.rotate_token(conn, row.key, now())
    assert not matches(token, rotated.token_hash)
    assert matches(new_token, rotated.token_hash)
    with db.write() as conn:
        sources.disconnect(conn, "Clay", now())
    with db.read() as conn:
        stored = sources.find(conn, row.id)
    assert stored.status == sources.DISCONNECTED
    assert stored.token_hash is None
    with db.write() as conn:
        again, again_token = sources.rotate_token(conn, "Clay", now())
    assert again.status == sources.ACTIVE
    assert matches(again_token, again.token_hash)


def test_source_validation(db: Database) -> None:
    """Unknown templates, blank and duplicate names are refused; unknown refs are 404."""
    with db.write() as conn:
        sources.create(conn, "Clay", "clay-customers", now())
    with db.write() as conn:
        with pytest.raises(ClaybridgeError, match="unknown template"):
            sources.create(conn, "Other", "nope", now())
        with pytest.raises(ClaybridgeError, match="required"):
            sources.create(conn, "  ", "clay-customers", now())
        with pytest.raises(Conflict):
            sources.create(conn, "Clay", "clay-customers", now())
        with pytest.raises(NotFound):
            sources.find(conn, "missing")


def test_customer_upsert_keeps_values_not_sent(db: Database) -> None:
    """A second row without arr/stage/owner keeps the stored values; created flips to False."""
    with db.write() as conn:
        owner = owners.add(conn, "Ada", "ada@example.com", now())
        first = parse_customer(
            {
                "name": "Acme",
                "websiteUrl": "https://www.acme.com",
                "arr": "$1,000",
                "stage": "Trial",
                "renewalDate": "2026-03-01",
            }
        )
        row, created = customers.upsert(
            conn,
            first,
            owner_id=owner["id"],
            source_id=None,
            now=now(),  # type: ignore[arg-type]
        )
    assert created
    assert row["arr"] == Decimal("1000.00")
    with db.write() as conn:
        second = parse_customer({"name": "Acme Inc", "websiteUrl": "acme.com", "arr": ""})
        row2, created2 = customers.upsert(
            conn,
            second,
            owner_id=None,
            source_id=None,
            now=now(),  # type: ignore[arg-type]
        )
    assert not created2
    assert row2["id"] == row["id"]
    assert row2["name"] == "Acme Inc"
    assert row2["arr"] == Decimal("1000.00")
    assert row2["stage"] == "Trial"
    assert row2["owner_id"] == owner["id"]


def test_money_is_exact(db: Database) -> None:
    """Large amounts with cents survive a round trip exactly (no float on SQLite)."""
    with db.write() as conn:
        data = parse_customer(
            {"name": "Big", "websiteUrl": "big.com", "arr": "9,999,999,999,999,999.99"}
        )
        customers.upsert(conn, data, owner_id=None, source_id=None, now=now())  # type: ignore[arg-type]
    with db.read() as conn:
        row, _ = customers.get(conn, "big.com")
    assert row["arr"] == Decimal("9999999999999999.99")


def test_removing_an_owner_keeps_their_customers(db: Database) -> None:
    """Deleting an owner leaves their customers in place, with no owner."""
    with db.write() as conn:
        owner = owners.add(conn, "Ada", "ada@example.com", now())
        data = parse_customer({"name": "Acme", "websiteUrl": "acme.com"})
        customers.upsert(conn, data, owner_id=owner["id"], source_id=None, now=now())  # type: ignore[arg-type]
    with db.write() as conn:
        owners.remove(conn, "ada@example.com")
    with db.read() as conn:
        row, found_owner = customers.get(conn, "acme.com")
        assert conn.execute(sa.select(sa.func.count()).select_from(owners_table)).scalar() == 0
    assert row["owner_id"] is None
    assert found_owner is None
