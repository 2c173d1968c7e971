"""The worker's part for Clay table destinations: which webhook each submission goes to,
sending it, and what its outcome means for the pool.

Per worker: the route chosen for each held submission, and the submissions in flight per
webhook (``reserved``), counted on top of the database's accepted count when choosing,
so a webhook near its limit is not over-filled by this worker. A reservation ends only
after the batch recording its outcome is committed (a claim in between would otherwise
see neither the reservation nor the new count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import aiohttp
import sqlalchemy as sa

from claybridge.clay.client import is_exhausted
from claybridge.core.clay_rules import PayloadTooLarge, check_size, exhausted_message
from claybridge.core.ssrf import Network
from claybridge.delivery.sender import Attempt, clay_request, send_request
from claybridge.records import clay, deliveries
from claybridge.records.claims import Claimed
from claybridge.records.clay import Route
from claybridge.records.deliveries import Settled
from claybridge.records.targets import Target
from claybridge.secretbox import SecretBox

ACCEPTED = "accepted"
EXHAUSTED = "exhausted"
# One finished attempt: what was sent, where, what came back, when it started and ended.
Result = tuple[Claimed, Target, Attempt, datetime, datetime]


@dataclass
class Outcomes:
    """What a batch of results means for the pools."""

    accepted: dict[tuple[str, str, str], list[Claimed]] = field(default_factory=dict)
    exhausted: dict[str, str] = field(default_factory=dict)  # webhook id -> destination
    released: list[str] = field(default_factory=list)  # reservations to end after commit


class ClayRouter:
    """See the module docstring."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box
        self._routes: dict[str, Route | str] = {}
        self._reserved: dict[str, int] = {}
        self._cache: dict[str, Route] = {}

    def route(
        self, conn: sa.Connection, claimed: Sequence[Claimed], kind: Callable[[str], str]
    ) -> dict[str, str]:
        """Pick the webhook of each Clay submission in ``claimed`` (the pool's first with
        room), or note that Clay already accepted it. ``kind``: destination id → kind.

        Returns the destinations whose pool cannot be used (a webhook's credentials do
        not decrypt with this key), with the reason; their items get no route."""
        by_dest: dict[str, list[Claimed]] = {}
        for item in claimed:
            if kind(item.destination_id) == "clay":
                by_dest.setdefault(item.destination_id, []).append(item)
        broken: dict[str, str] = {}
        for dest_id, items in by_dest.items():
            done = clay.accepted(conn, dest_id, [i.request_id for i in items if i.request_id])
            pool = clay.webhooks(conn, dest_id)
            routes: dict[str, Route | str] = {}
            reserved = {row["id"]: self._reserved.get(row["id"], 0) for row in pool}
            try:
                for item in items:
                    if item.request_id in done:
                        routes[item.id] = ACCEPTED
                        continue
                    found = clay.choose(pool, self.box, self._reserved, self._cache)
                    routes[item.id] = found if found is not None else EXHAUSTED
            except ValueError as exc:  # the key does not fit this pool's secrets
                self._reserved.update(reserved)  # none of these items will be sent
                broken[dest_id] = str(exc)
                continue
            self._routes.update(routes)
        return broken

    async def submit(
        self,
        client: aiohttp.ClientSession,
        item: Claimed,
        target: Target,
        allow: Sequence[Network],
    ) -> Attempt:
        """Send one row to its webhook, or say why it is not sent."""
        route = self._routes.get(item.id)
        if route == ACCEPTED:
            note = f"not sent: Clay already accepted request_id {item.request_id}"
            return Attempt(None, 0.0, note, None, skipped=True)
        if not isinstance(route, Route):
            return Attempt(None, 0.0, exhausted_message(target.name), None, permanent=True)
        row = item.payload if isinstance(item.payload, dict) else {"value": item.payload}
        request = clay_request(route, row)
        assert target.clay is not None
        try:
            check_size(request.body, target.clay.max_payload_bytes)
        except PayloadTooLarge as exc:
            return Attempt(None, 0.0, f"payload_too_large: {exc.message}", None, permanent=True)
        return await send_request(client, request, target.timeout, allow)

    def outcomes(self, batch: Sequence[Result], settled: list[Settled]) -> Outcomes:
        """Sort a batch's Clay results; a row Clay refused because its webhook is spent is
        retried at once (``settled`` is updated), on the pool's next webhook."""
        out = Outcomes()
        for index, (item, target, attempt, _started, _ended) in enumerate(batch):
            route = self._routes.pop(item.id, None)
            if not isinstance(route, Route):
                continue
            out.released.append(route.webhook_id)
            code = attempt.status_code
            if attempt.succeeded:
                key = (item.destination_id, route.webhook_id, target.name)
                out.accepted.setdefault(key, []).append(item)
            elif code is not None and is_exhausted(code, attempt.excerpt or ""):
                out.exhausted[route.webhook_id] = target.name
                s = settled[index]
                settled[index] = replace(
                    s, status=deliveries.FAILED, next_attempt_at=s.attempted_at
                )
        return out

    @staticmethod
    def write(conn: sa.Connection, out: Outcomes, now: datetime) -> None:
        """Count accepted submissions and retire exhausted webhooks (in the batch's
        transaction)."""
        for (dest_id, webhook_id, name), items in out.accepted.items():
            clay.record_accepted(
                conn,
                dest_id,
                webhook_id,
                [i.request_id for i in items],
                now,
                delivery_ids=[i.id for i in items],
                name=name,
            )
        for webhook_id, name in out.exhausted.items():
            clay.mark_exhausted(conn, webhook_id, now, name=name)

    def release(self, out: Outcomes) -> None:
        """End the reservations of a committed batch."""
        for webhook_id in out.released:
            self._reserved[webhook_id] = self._reserved.get(webhook_id, 1) - 1
