"""Source templates: what a new source does and the Clay column setup to paste.

A template names the action a source runs and the JSON body template for Clay's HTTP
API column, with ``{{Column Name}}`` placeholders the user adjusts to their table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    """A source template: its default configuration and the Clay body to paste."""

    name: str
    description: str
    config: dict[str, Any]
    body_template: str

    @property
    def actions(self) -> str:
        """The action kinds the template's mappings run, for listings."""
        kinds = {a["kind"] for acts in self.config["mappings"].values() for a in acts}
        return ", ".join(sorted(kinds))


_LEAD_BODY = (
    '{"event": "lead.enriched", "email": "{{Work Email}}", "full_name": "{{Full Name}}", '
    '"phone_number": "{{Phone}}", "avatar_url": "{{Profile Photo}}", '
    '"job_title": "{{Job Title}}", "company_name": "{{Company Name}}", '
    '"company_domain": "{{Company Domain}}", "icp_score": "{{ICP Score}}", '
    '"clay_row_id": "{{Clay Row ID}}"}'
)

TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            name="clay-customers",
            description="Create or update a customer per account row (matched on website domain).",
            config={
                "event_path": "body.event",
                "default_event": "customer.upsert",
                "mappings": {"customer.upsert": [{"kind": "upsert_customer"}]},
            },
            body_template=(
                '{"name": "{{Company Name}}", "websiteUrl": "{{Domain}}", '
                '"owner": "{{Account Owner}}", "stage": "{{Status}}", "arr": "{{ACV}}", '
                '"renewalDate": "{{Renewal Date}}"}'
            ),
        ),
        Template(
            name="clay-leads",
            description="Identify people from enriched leads and contacts; keep accounts "
            "as objects (Knock-style).",
            config={
                "event_path": "body.event",
                "default_event": "lead.enriched",
                "mappings": {
                    "lead.enriched": [
                        {"kind": "identify_person", "id": {"path": "body.email", "type": "email"}}
                    ],
                    "contact.updated": [
                        {"kind": "identify_person", "id": {"path": "body.email", "type": "email"}}
                    ],
                    "account.enriched": [
                        {
                            "kind": "set_object",
                            "collection": "accounts",
                            "id": {"path": "body.domain", "type": "domain"},
                        }
                    ],
                },
            },
            body_template=_LEAD_BODY,
        ),
        Template(
            name="clay-callback",
            description="Receive enriched rows back from a Clay table (its last HTTP API "
            "column) and complete the pending request they answer.",
            config={
                # The returned row is the submitted one plus Clay's columns, so it may well
                # carry the original "event": every row here completes a request.
                "event_path": "headers.x-claybridge-event",
                "default_event": "request.completed",
                "mappings": {"request.completed": [{"kind": "complete_request"}]},
            },
            body_template=(
                '{"request_id": "{{request_id}}", "email": "{{Work Email}}", '
                '"company_domain": "{{Company Domain}}", "icp_score": "{{ICP Score}}"}'
            ),
        ),
    )
}

DEFAULT_TEMPLATE = "clay-customers"


def column_setup(url: str, token: str | None, template: Template) -> dict[str, object]:
    """The Clay HTTP API column settings for a source, as data.

    ``token`` is ``None`` when it is no longer known (it is shown only once).
    """
    bearer = f"Bearer {token}" if token else "Bearer <your source token>"
    return {
        "method": "POST",
        "url": url,
        "headers": {"Authorization": bearer, "Content-Type": "application/json"},
        "body": template.body_template,
    }


def column_setup_text(url: str, token: str | None, template: Template) -> str:
    """The same setup as step-by-step text for a terminal."""
    setup = column_setup(url, token, template)
    headers = setup["headers"]
    assert isinstance(headers, dict)
    return "\n".join(
        [
            "In your Clay table, add an HTTP API column and set:",
            f"  Method:  {setup['method']}",
            f"  URL:     {setup['url']}",
            f"  Header:  Authorization: {headers['Authorization']}",
            "  Body (adjust the {{placeholders}} to your column names):",
            f"    {setup['body']}",
            "Run it on one test row first: the cell shows Claybridge's answer.",
        ]
    )
