"""``trigger_workflow``: start a run of a workflow with the row as its input (one run
per idempotency key, when the mapping names one)."""

from __future__ import annotations

from typing import Any

from claybridge.actions.base import Applying
from claybridge.actions.outbound import Outbound, Sending, unknown
from claybridge.errors import ClaybridgeError
from claybridge.records import runs

Workflow = dict[str, Any]


class TriggerWorkflow(Outbound):
    """Queue a run of the named workflow."""

    kind = "trigger_workflow"
    __slots__ = ()

    def resolve(self, app: Applying, values: Sending) -> Workflow:
        """The workflow (one that does not exist refuses the event)."""
        found = app.batch.workflow(app.conn, self.target or "")
        if found is None:
            raise unknown("triggers workflow", self.target or "", "unknown_workflow")
        return found

    def apply(self, app: Applying, values: Sending, resolved: Workflow) -> dict[str, Any]:
        """A queued run; a repeat of its key answers the run it already started."""
        result: dict[str, Any] = {"kind": self.kind, "workflow": resolved["key"]}
        origin = {"id": app.source_id, "name": app.source_name, "event": app.event_name}
        try:
            run, created = runs.start(
                app.conn,
                resolved,
                values.payload,
                app.now,
                source=origin,
                idempotency_key=values.key,
                event_id=app.event_id,
            )
        except ClaybridgeError as exc:
            if exc.code != "idempotency_key_conflict":
                raise
            # A re-sent row whose run already ended: not an error for Clay, nothing to do.
            found = runs.by_key(app.conn, resolved["id"], values.key or "")
            assert found is not None
            return {
                **result,
                "status": "exists",
                "run_id": found["id"],
                "run_status": found["status"],
            }
        return {**result, "status": "started" if created else "exists", "run_id": run["id"]}

    def preview(self, app: Applying, values: Sending, resolved: Workflow) -> dict[str, Any]:
        """Names the workflow it would start."""
        return {"kind": self.kind, "status": "would_start", "workflow": resolved["key"]}
