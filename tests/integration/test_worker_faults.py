"""One bad destination never stops the worker: on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from claybridge.core.ssrf import parse_networks
from claybridge.delivery import worker as worker_module
from claybridge.delivery.worker import Worker
from claybridge.records import deliveries, destinations
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from claybridge.storage.tables import deliveries as deliveries_table
from claybridge.views.destinations import destination_json
from tests.conftest import now
from tests.receiver import Receiver

ALLOW = parse_networks("127.0.0.1/32")


def _destination(db: Database, box: SecretBox, name: str, url: str, kind: str = "http") -> str:
    with db.write() as conn:
        row, _secret = destinations.create(
            conn, {"name": name, "kind": kind, "url": url}, now(), box, ALLOW
        )
    return row.id


def _queue(db: Database, destination_id: str, count: int) -> None:
    with db.write() as conn:
        deliveries.enqueue(
            conn, [deliveries.new_row(destination_id, {"n": i}, now()) for i in range(count)]
        )


def _run_until(worker: Worker, done: object, timeout: float = 10.0) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(int(timeout / 0.05)):
            if done():  # type: ignore[operator]
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(run())


def test_a_destination_whose_secrets_do_not_decrypt_is_paused_not_the_worker(
    db: Database, receiver: Receiver
) -> None:
    """A worker started with another secret key pauses the destinations it cannot
    decrypt (saying why, their deliveries left waiting) and delivers the healthy ones."""
    old_key, new_key = SecretBox(Fernet.generate_key()), SecretBox(Fernet.generate_key())
    unreadable = [
        _destination(db, old_key, "old-http", f"{receiver.url}/old"),
        _destination(db, old_key, "old-clay", f"{receiver.url}/clay", kind="clay"),
    ]
    healthy = _destination(db, new_key, "new-http", f"{receiver.url}/new")
    for destination_id in [*unreadable, healthy]:
        _queue(db, destination_id, 3)
    worker = Worker(db, new_key, poll_interval=0.02, allow=ALLOW, lease_seconds=2)
    _run_until(worker, lambda: receiver.count() >= 3)
    assert sorted(s.path for s in receiver.seen) == ["/new"] * 3
    with db.read() as conn:
        rows = conn.execute(
            sa.select(deliveries_table.c.destination_id, deliveries_table.c.status)
        ).all()
        for destination_id in unreadable:
            found = destinations.get(conn, destination_id)
            assert found is not None
            assert found is not None
            assert found.status == "paused"
            assert "cannot be decrypted" in (found.status_reason or "")
            shown = destination_json(found, new_key, [])
            assert "cannot be decrypted" in shown["status_reason"]
    by_destination = {(d, s) for d, s in rows}
    assert by_destination == {
        (healthy, "delivered"),
        (unreadable[0], "pending"),
        (unreadable[1], "pending"),
    }


def test_a_delivery_that_cannot_be_sent_dies_alone(
    db: Database, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery whose sending raises is dead with the error recorded; the worker goes
    on and delivers the others."""
    real_send = worker_module.send

    async def send(client: Any, target: Any, payload: Any, *args: Any) -> Any:
        if payload == {"n": 1}:
            raise RuntimeError("this payload breaks the sender")
        return await real_send(client, target, payload, *args)

    monkeypatch.setattr(worker_module, "send", send)
    box = SecretBox(Fernet.generate_key())
    _queue(db, _destination(db, box, "crm", f"{receiver.url}/crm"), 3)
    worker = Worker(db, box, poll_interval=0.02, allow=ALLOW, lease_seconds=2)
    _run_until(worker, lambda: receiver.count() >= 2 and _statuses(db) == {"delivered", "dead"})
    with db.read() as conn:
        dead = conn.execute(
            sa.select(deliveries_table).where(deliveries_table.c.status == "dead")
        ).one()
    assert dead.payload == {"n": 1}
    assert "this payload breaks the sender" in dead.last_error
    assert receiver.count() == 2


def _statuses(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(sa.select(deliveries_table.c.status)).scalars())
