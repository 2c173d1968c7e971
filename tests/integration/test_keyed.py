"""Create-or-merge of keyed records (people, objects) on a real database (SQLite and
PostgreSQL)."""

from __future__ import annotations

from claybridge.records import objects, people
from claybridge.storage.database import Database
from tests.conftest import now


def test_person_is_created_then_merged(db: Database) -> None:
    """The first row creates the person; a later one replaces the fields it sends, keeps
    the ones it leaves blank, and merges properties."""
    with db.write() as conn:
        first, created = people.identify(
            conn,
            "ada@example.com",
            {"full_name": "Ada Lovelace", "email": "ada@example.com", "phone_number": ""},
            {"title": "CTO", "city": "London"},
            source_id=None,
            now=now(),
        )
    assert created
    assert first["id"].startswith("per_")
    assert first["phone_number"] is None
    with db.write() as conn:
        second, created = people.identify(
            conn,
            "ada@example.com",
            {"full_name": "", "phone_number": "+44 20 7946 0000"},
            {"title": "", "city": "Paris", "team": "Data"},
            source_id=None,
            now=now(),
        )
    assert not created
    assert second["id"] == first["id"]
    with db.read() as conn:
        stored = people.get(conn, "ada@example.com")
    assert stored["full_name"] == "Ada Lovelace"  # blank: kept
    assert stored["phone_number"] == "+44 20 7946 0000"  # sent: replaced
    assert stored["properties"] == {"title": "CTO", "city": "Paris", "team": "Data"}
    assert {k: second[k] for k in people.FIELDS} == {k: stored[k] for k in people.FIELDS}


def test_object_is_created_then_merged_within_its_collection(db: Database) -> None:
    """Objects are keyed by collection and key: the same key in another collection is
    another object, and a repeat merges its properties into the stored ones."""
    with db.write() as conn:
        acme, created = objects.set_object(
            conn, "accounts", "acme.com", {"tier": "A", "seats": 10}, source_id=None, now=now()
        )
        other, other_created = objects.set_object(
            conn, "deals", "acme.com", {"stage": "won"}, source_id=None, now=now()
        )
    assert created
    assert other_created
    assert acme["id"].startswith("obj_")
    assert other["id"] != acme["id"]
    with db.write() as conn:
        merged, created = objects.set_object(
            conn, "accounts", "acme.com", {"seats": 12, "tier": " "}, source_id=None, now=now()
        )
    assert not created
    assert merged["id"] == acme["id"]
    with db.read() as conn:
        stored = objects.get(conn, "accounts", "acme.com")
    assert stored["properties"] == {"tier": "A", "seats": 12}
