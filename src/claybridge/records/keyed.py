"""Create-or-merge of records found by a key: people (by their key) and objects (by
collection and key), on the ingest path.

One rule for both: the first row with a key creates the record; a later one merges its
properties in (:func:`~claybridge.records.merge.merge_properties`) and replaces each
named field it sends, and a blank cell never erases a stored value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.ids import new_id
from claybridge.records.merge import changed_fields, merge_properties
from claybridge.storage.prepared import Prepared


@dataclass(frozen=True)
class Keyed:
    """A kind of keyed record: its prepared statements, id prefix and named fields.

    ``find`` takes the lookup's keys and returns the stored row; ``insert`` takes a whole
    row; ``update`` takes ``match_id``, ``new_properties``, ``new_source_id``,
    ``new_updated_at`` and ``new_<field>`` for each of ``fields`` (``NULL`` keeps the
    stored value).
    """

    find: Prepared
    insert: Prepared
    update: Prepared
    prefix: str
    fields: tuple[str, ...] = ()


def create_or_merge(
    conn: sa.Connection,
    kind: Keyed,
    lookup: dict[str, Any],
    values: dict[str, Any],
    properties: dict[str, Any],
    *,
    source_id: str | None,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Create the record found by ``lookup``, or merge ``values`` and ``properties`` into
    it; returns the row as stored and whether it was created."""
    stored = kind.find.execute(conn, lookup)
    if stored is None:
        row = {
            "id": new_id(kind.prefix),
            **lookup,
            **dict.fromkeys(kind.fields),
            **changed_fields(values),
            "properties": merge_properties({}, properties),
            "source_id": source_id,
            "created_at": now,
            "updated_at": now,
        }
        kind.insert.execute(conn, row)
        return row, True
    update = {
        **changed_fields(values),
        "properties": merge_properties(stored["properties"] or {}, properties),
        "source_id": source_id,
        "updated_at": now,
    }
    kind.update.execute(
        conn,
        {
            "match_id": stored["id"],
            **{f"new_{k}": update.get(k) for k in kind.fields},
            "new_properties": update["properties"],
            "new_source_id": source_id,
            "new_updated_at": now,
        },
    )
    return {**stored, **update}, False
